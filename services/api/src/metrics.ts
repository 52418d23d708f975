import { counter, createRegistry, Histogram, registerQueueDepth, type Producer, type QueueName, type Registry } from '@cheershare/shared';

/** The API's metrics, each recorded where its behaviour is. */
export interface ApiMetrics {
  registry: Registry;
  /** Request duration by method, route template (never the raw path) and status. */
  http: Histogram;
  /** Sign-in codes: requested (mailed; reason long_code for 10 digits), suppressed, verified, failed, refused. */
  codes: ReturnType<typeof counter>;
  /** Requests refused by a shared rate limit, by limit name (otp, verify, refresh, emails). */
  rateLimited: ReturnType<typeof counter>;
  /** Connections refused on arrival because their client already held MAX_CONNECTIONS_PER_CLIENT. */
  connectionsRefused: ReturnType<typeof counter>;
}

export function createApiMetrics(queues: Producer<QueueName>[]): ApiMetrics {
  const registry = createRegistry('api');
  registerQueueDepth(registry, queues);
  const codes = counter(registry, 'cheershare_otp_codes_total',
    'Sign-in codes by event: requested (mailed; reason long_code when 10 digits), suppressed (over a mailbox limit: answered alike, not mailed), verified, failed.', ['event', 'reason']);
  const rateLimited = counter(registry, 'cheershare_rate_limited_total', 'Requests refused with 429 by a shared limit: otp, verify, refresh, mfa (per client; mfa also per account) and emails (all clients).', ['limit']);
  // Every series exists from the start, so rates and alerts work before the first event.
  for (const event of ['requested', 'suppressed', 'verified', 'failed']) codes.inc({ event, reason: '' }, 0);
  codes.inc({ event: 'requested', reason: 'long_code' }, 0);
  for (const limit of ['otp', 'verify', 'refresh', 'mfa', 'emails']) rateLimited.inc({ limit }, 0);
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
    rateLimited,
    connectionsRefused: counter(registry, 'cheershare_connections_refused_total', 'Connections closed on arrival: their client address already held MAX_CONNECTIONS_PER_CLIENT open.', []),
  };
}
