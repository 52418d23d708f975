import { counter, createRegistry, Histogram, registerQueueDepth, type Producer, type QueueName, type Registry } from '@cheershare/shared';

/** The API's metrics, each recorded where its behaviour is. */
export interface ApiMetrics {
  registry: Registry;
  /** Request duration by method, route template (never the raw path) and status. */
  http: Histogram;
  /** Sign-in codes: requested, verified, failed, refused (by `reason`). */
  codes: ReturnType<typeof counter>;
}

export function createApiMetrics(queues: Producer<QueueName>[]): ApiMetrics {
  const registry = createRegistry('api');
  registerQueueDepth(registry, queues);
  const codes = counter(registry, 'cheershare_otp_codes_total', 'Sign-in codes by event: requested, verified, failed, refused (with the refusal reason).', ['event', 'reason']);
  // Every series exists from the start, so rates and alerts work before the first event.
  for (const event of ['requested', 'verified', 'failed']) codes.inc({ event, reason: '' }, 0);
  for (const reason of ['resend_too_soon', 'too_many_codes', 'too_many_failures']) codes.inc({ event: 'refused', reason }, 0);
  return {
    registry,
    http: new Histogram({
      name: 'cheershare_http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    codes,
  };
}
