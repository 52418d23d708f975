import type { Job, JobSchedulerTemplateOptions, Queue, RepeatOptions } from 'bullmq';
import type { QueueName, JobData, JobName } from './jobs.ts';

/** A typed producer for one queue. `add` rejects quickly (never hangs) when the queue store is unreachable. */
export interface Producer<Q extends QueueName> {
  readonly name: Q;
  add<N extends JobName<Q>>(name: N, data: JobData<Q, N>, opts: { jobId: string }): Promise<void>;
  /** Creates or replaces a recurring job (idempotent across restarts and replicas). */
  upsertScheduler<N extends JobName<Q>>(id: string, repeat: Pick<RepeatOptions, 'pattern' | 'tz' | 'every'>, template: { name: N; data: JobData<Q, N>; opts?: JobSchedulerTemplateOptions }): Promise<void>;
  /** Ids of the recurring jobs of this queue. */
  schedulerIds(): Promise<string[]>;
  /** The recurring job `id` as the store holds it now (another replica may have written it), if any. */
  scheduler(id: string): Promise<Pick<RepeatOptions, 'pattern' | 'tz' | 'every'> | undefined>;
  getJob(id: string): Promise<Job | undefined>;
  /** Removes every job of this queue (tests and operators). */
  obliterate(): Promise<void>;
  /** The BullMQ queue underneath (its API is the same on both backends), for operators' tools. */
  readonly queue: Queue;
  close(): Promise<void>;
}

const ADD_TIMEOUT_MS = 3_000;

export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';
}

// Redis replies (case-sensitive codes) and ioredis messages that mean the store cannot take the
// command now: a failover under way (READONLY from a demoted master, MASTERDOWN, a cluster slot
// moving), a cluster that is down or refuses a layout, or a connection that gave up.
const REDIS_REPLY = /(^|[\s:])(READONLY|MOVED|ASK|CROSSSLOT|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING|NOREPLICAS) /;
const IOREDIS_GAVE_UP = /connection is closed|all sentinels are unreachable|failed to refresh slots cache|none of (the )?startup nodes is available|too many cluster redirections|cluster isn't ready|max retries per request|stream isn't writeable/i;

/**
 * Whether `err` says the queue store is unavailable for now (down, failing over, read-only, or a
 * cluster that cannot serve the command), so a client should get a 503 and try again.
 */
export function isQueueStoreUnavailable(err: unknown): boolean {
  if (err instanceof QueueUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  return REDIS_REPLY.test(err.message) || IOREDIS_GAVE_UP.test(err.message) || (err.cause !== undefined && err.cause !== err && isQueueStoreUnavailable(err.cause));
}

/**
 * BullMQ 6.7 remembers a failed first connection, on both backends: a queue whose first use came
 * while its store was down fails every later call, even once the store is back (Redis: its INFO
 * at set-up; PostgreSQL: its schema check). So when an add fails while the store itself answers,
 * the producer tries once more (replacing its queue at most every few seconds). `queue` always
 * leads to the current one, for tools that hold on to it (Bull Board, metrics).
 */
export function makeProducer<Q extends QueueName>(name: Q, create: () => Queue, storeAnswers: () => Promise<void>): Producer<Q> {
  const open = () => {
    const q = create();
    q.on('error', () => {});
    return q;
  };
  let current = open();
  let replacedAt = 0;
  const handle = new Proxy(current, {
    get: (_target, prop) => {
      const value: unknown = Reflect.get(current, prop, current);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(current) : value;
    },
  });
  let closing: Promise<void> | undefined;

  async function attempt<T>(run: (q: Queue) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QueueUnavailableError(`queue ${name}: add timed out`)), ADD_TIMEOUT_MS);
    });
    try {
      return await Promise.race([run(current), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * After a failed add: whether the store answers now, so the add is worth one more try. The queue
   * is replaced too (at most every few seconds). The add may also have landed with only its answer
   * lost (a connection reset after the commit); the same jobId again is then a no-op, so the retry
   * turns an unknown outcome into a known one instead of a 503 for a job that will run.
   */
  async function storeAnswersAgain(): Promise<boolean> {
    if (closing) return false;
    const answers = await Promise.race([storeAnswers().then(() => true, () => false), new Promise<false>((r) => setTimeout(() => r(false), 1_000))]);
    if (!answers) return false;
    if (Date.now() - replacedAt >= 5_000) {
      replacedAt = Date.now();
      const old = current;
      current = open();
      void old.close().catch(() => {});
    }
    return true;
  }

  return {
    name,
    queue: handle,
    async add(jobName, data, opts) {
      try {
        await attempt((q) => q.add(jobName, data, opts));
      } catch (err) {
        try {
          if (await storeAnswersAgain()) {
            await attempt((q) => q.add(jobName, data, opts));
            return;
          }
        } catch (retryErr) {
          err = retryErr;
        }
        throw err instanceof QueueUnavailableError ? err : new QueueUnavailableError(`queue ${name}: ${(err as Error).message}`, { cause: err });
      }
    },
    async upsertScheduler(id, repeat, template) {
      await current.upsertJobScheduler(id, repeat, template);
    },
    async schedulerIds() {
      return (await current.getJobSchedulers()).map((s) => s.key);
    },
    async scheduler(id) {
      const found = await current.getJobScheduler(id);
      return found ? { pattern: found.pattern ?? undefined, tz: found.tz ?? undefined, every: found.every ?? undefined } : undefined;
    },
    async getJob(id) {
      return (await current.getJob(id)) ?? undefined;
    },
    async obliterate() {
      await current.obliterate({ force: true });
    },
    close: () => (closing ??= current.close()),
  };
}
