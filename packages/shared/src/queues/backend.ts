import { Queue, Worker, type DefaultJobOptions, type Job, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { QueueName, JobData, JobName } from './jobs.ts';

// The one place that knows queues live in Redis. A zero-setup mode (BullMQ's PostgreSQL backend)
// only has to change what this file builds.

export interface QueueSettings {
  url: string;
  prefix: string;
}

/** A typed producer for one queue. `add` rejects quickly (never hangs) when Redis is unreachable. */
export interface Producer<Q extends QueueName> {
  readonly name: Q;
  add<N extends JobName<Q>>(name: N, data: JobData<Q, N>, opts: { jobId: string }): Promise<void>;
  /** The BullMQ queue underneath, for operators' tools (Bull Board) and tests. */
  readonly queue: Queue;
  close(): Promise<void>;
}

const ADD_TIMEOUT_MS = 3_000;

export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';
}

/**
 * A connection for producers and queue reads. Commands fail after one retry, and `add` races a
 * timer, so a request never hangs on a Redis that is down. (The offline queue stays on: BullMQ
 * issues its set-up commands before the first connect, and a refused one would break the queue.)
 */
export function createProducerConnection(settings: QueueSettings, logger?: Logger): Redis {
  const redis = new Redis(settings.url, {
    maxRetriesPerRequest: 1,
    connectTimeout: 3_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Reconnection is automatic; without a listener a lost connection would crash the process.
  redis.on('error', reportConnectionErrors(logger));
  return redis;
}

/** Logs Redis connection trouble once, then at most every 30 s while it lasts. */
function reportConnectionErrors(logger: Logger | undefined): (err: Error) => void {
  let last = 0;
  return (err) => {
    if (!logger || Date.now() - last < 30_000) return;
    last = Date.now();
    logger.warn({ error: err.message }, 'redis connection error (retrying)');
  };
}

export function createProducer<Q extends QueueName>(
  settings: QueueSettings,
  name: Q,
  connection: Redis,
  defaultJobOptions: DefaultJobOptions,
): Producer<Q> {
  const queue = new Queue(name, { connection: connection, prefix: settings.prefix, defaultJobOptions, skipWaitingForReady: true });
  queue.on('error', () => {});
  return {
    name,
    queue,
    async add(jobName, data, opts) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new QueueUnavailableError(`queue ${name}: add timed out`)), ADD_TIMEOUT_MS);
      });
      try {
        await Promise.race([queue.add(jobName, data, opts), timeout]);
      } catch (err) {
        throw err instanceof QueueUnavailableError ? err : new QueueUnavailableError(`queue ${name}: ${(err as Error).message}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => queue.close(),
  };
}

export type Processor = (job: Job) => Promise<unknown>;

/** A worker on `name`. It owns its connections; `close()` waits for active jobs to finish. */
export function createWorker(
  settings: QueueSettings,
  name: QueueName,
  processor: Processor,
  opts: Pick<WorkerOptions, 'concurrency' | 'lockDuration' | 'autorun'> = {},
  logger?: Logger,
): Worker {
  const connection = new Redis(settings.url, { maxRetriesPerRequest: null });
  connection.on('error', reportConnectionErrors(logger));
  const worker = new Worker(name, processor, { ...opts, connection: connection, prefix: settings.prefix });
  worker.on('closed', () => connection.disconnect());
  return worker;
}
