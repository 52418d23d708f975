import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Producer } from './queues/backend.ts';
import type { QueueName } from './queues/jobs.ts';

// What operators get from every service, on a port of its own (METRICS_PORT): /healthz,
// /readyz and Prometheus /metrics. Never on the API's public port.

/** A metrics registry with the process's default metrics, every series labelled with `service`. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Resolves true when `check` succeeds within `ms`, false when it fails or takes longer. */
export async function probe(check: () => Promise<unknown>, ms = 1_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`, or a rejection with `message` once `ms` have passed. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export type ReadinessChecks = Record<string, boolean>;

export interface OperatorServer {
  port: number;
  close(): Promise<void>;
}

/** Serves /healthz, /readyz (200 only when every check passes) and /metrics. */
export async function startOperatorServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Promise<ReadinessChecks>;
}): Promise<OperatorServer> {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'application/json') =>
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ error: { code: 'method_not_allowed', message: 'Use GET.' } }));
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (path === '/readyz') {
      void opts.readiness().then((checks) => {
        const ready = Object.values(checks).every(Boolean);
        send(ready ? 200 : 503, JSON.stringify({ status: ready ? 'ready' : 'unavailable', checks }));
      }, () => send(503, JSON.stringify({ status: 'unavailable', checks: {} })));
      return;
    }
    if (path === '/metrics') {
      void opts.registry.metrics().then((text) => send(200, text, opts.registry.contentType), () => send(500, ''));
      return;
    }
    send(404, JSON.stringify({ error: { code: 'not_found', message: 'Try /healthz, /readyz or /metrics.' } }));
  });
  server.keepAliveTimeout = 5_000;
  server.listen(opts.port, opts.host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children'] as const;

/** Queue depth per queue and state, read from the queue store at each scrape. */
export function registerQueueDepth(registry: Registry, producers: Producer<QueueName>[]): void {
  new Gauge({
    name: 'cheershare_queue_jobs',
    help: 'Jobs in each queue, by state (read at scrape time).',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      await Promise.all(producers.map(async (p) => {
        const counts = await p.queue.getJobCounts(...JOB_STATES).catch(() => undefined);
        if (!counts) return;
        for (const state of JOB_STATES) this.set({ queue: p.name, state }, counts[state] ?? 0);
      }));
    },
  });
}

/** Job duration and outcome per queue and job name, from a worker's events. */
export function instrumentWorker(registry: Registry, worker: Worker): void {
  const metric = (registry.getSingleMetric('cheershare_job_duration_seconds') as Histogram | undefined) ?? new Histogram({
    name: 'cheershare_job_duration_seconds',
    help: 'Time a job attempt ran, by queue, job name and outcome (completed, failed, retried).',
    labelNames: ['queue', 'name', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const seconds = (job: { processedOn?: number; finishedOn?: number }) =>
    job.processedOn ? Math.max(0, ((job.finishedOn ?? Date.now()) - job.processedOn) / 1000) : 0;
  worker.on('completed', (job) => metric.observe({ queue: worker.name, name: job.name, outcome: 'completed' }, seconds(job)));
  worker.on('failed', (job) => {
    if (!job) return;
    const final = job.finishedOn !== undefined || job.attemptsMade >= (job.opts.attempts ?? 1);
    metric.observe({ queue: worker.name, name: job.name, outcome: final ? 'failed' : 'retried' }, seconds(job));
  });
}

/** A counter registered once per registry (several handlers may ask for the same one). */
export function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter {
  return (registry.getSingleMetric(name) as Counter | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

/** A gauge registered once per registry. */
export function gauge(registry: Registry, name: string, help: string, labelNames: string[] = []): Gauge {
  return (registry.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, labelNames, registers: [registry] });
}

/**
 * Starts a worker service's app, or logs in one line why it cannot (queue store unreachable or not
 * migrated) and exits 1; then warns loudly when the queue store could lose jobs.
 */
export async function startWorkerService(
  app: { start(): Promise<number>; queues: { description: string; durabilityWarnings(): Promise<string[]> } },
  logger: { fatal: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void },
  exit: (code: number) => never,
): Promise<number> {
  let operatorPort: number;
  try {
    operatorPort = await app.start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      logger.fatal({ err }, 'cannot listen: the operator port is taken (METRICS_PORT): stop what uses it or choose another');
    } else {
      logger.fatal({ err, queues: app.queues.description }, 'could not start: is the queue store reachable and migrated? (npm run migrate)');
    }
    return exit(1);
  }
  await warnIfJobsCanBeLost(app.queues, logger);
  return operatorPort;
}

/** Logs `QUEUE STORE CAN LOSE JOBS: …` for each way the queue server could evict or lose jobs. */
export async function warnIfJobsCanBeLost(queues: { description: string; durabilityWarnings(): Promise<string[]> }, logger: { warn: (obj: object, msg: string) => void }): Promise<void> {
  for (const warning of await queues.durabilityWarnings()) logger.warn({ queues: queues.description }, `QUEUE STORE CAN LOSE JOBS: ${warning}`);
}
