import {
  createPostgresBackend, Queue, Worker,
  type DefaultJobOptions, type Job, type WorkerOptions,
} from 'bullmq';
import pg from 'pg';
import type { Logger } from 'pino';
import { RateLimiterPostgres, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { QueueName } from './jobs.ts';
import { makeProducer, type Producer } from './producer.ts';
import { connectRedis, describeRedisTopology, masters, probeWrite, queueKeyPrefix, reportConnectionErrors, type RedisTopology } from './redis.ts';

export { QueueUnavailableError, isQueueStoreUnavailable, type Producer } from './producer.ts';
export { connectRedis, queueKeyPrefix, describeRedisTopology, type RedisNode, type RedisTopology, type RedisConnection } from './redis.ts';
import { RATE_LIMIT_TABLE } from './store.ts';
import { DeadlineClient } from '../db/database.ts';

// The one place that knows where queues live: Redis (the production default, BullMQ's most proven
// backend) or PostgreSQL (BullMQ 6's PostgreSQL backend, for zero-setup and small deployments).
// Services and tests see only QueueClient, Producer and Worker. Rate limiters live in the same
// store, so every API replica shares them on either backend.

/**
 * Where the queues live. Redis (one server, Sentinel or Cluster) namespaces keys with a prefix,
 * hash-tagged on a cluster (queueKeyPrefix); PostgreSQL uses a schema.
 */
export type QueueSettings =
  | { kind: 'redis'; topology: RedisTopology; prefix: string }
  | { kind: 'postgres'; url: string; schema: string };

/** The PostgreSQL schema that holds the queues of a QUEUE_PREFIX (dashes become underscores). */
export function queueSchemaOf(prefix: string): string {
  const schema = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return /^[a-z_]/.test(schema) ? schema : `q_${schema}`;
}


const CONNECT_TIMEOUT_MS = 3_000;
// How long a stopping worker waits for the queue store to answer before closing without it.
const STOP_PING_MS = 500;
// How long a stopping worker's close may take once its processors have returned.
const CLOSE_AFTER_IDLE_MS = 3_000;


export type Processor = (job: Job) => Promise<unknown>;

export interface RateLimitOptions {
  keyPrefix: string;
  points: number;
  /** Seconds. */
  duration: number;
  /** Seconds to block a key once it is over the limit (default: none). */
  blockDuration?: number;
}

export interface QueueClient {
  readonly settings: QueueSettings;
  /** For logs and start-up banners: the backend and where it is, never a password. */
  readonly description: string;
  producer<Q extends QueueName>(name: Q, defaultJobOptions: DefaultJobOptions): Producer<Q>;
  /** A worker on `name`. It owns its connections; `close()` waits for active jobs to finish. */
  worker(name: QueueName, processor: Processor, opts?: Pick<WorkerOptions, 'concurrency' | 'lockDuration' | 'stalledInterval' | 'maxStalledCount' | 'autorun'>): Worker;
  /**
   * Stops a worker made here: no new jobs, then waits for the running ones. When the queue store
   * does not answer, BullMQ's close would wait for it for ever; the worker is then closed at once
   * and only its running processors are waited for (their jobs, unrecorded, run again later).
   */
  stopWorker(worker: Worker): Promise<void>;
  /**
   * A limiter of `points` per `duration` seconds per key, shared by every process on this store
   * (rate-limiter-flexible: RateLimiterRedis or RateLimiterPostgres). `keyPrefix` names the limit.
   */
  rateLimiter(opts: RateLimitOptions): RateLimiterAbstract;
  /**
   * What could lose or evict jobs on this store, as sentences for a loud start-up warning: on Redis,
   * an eviction policy other than noeviction, or neither AOF nor snapshots. Empty when all is well
   * or when the server will not say (CONFIG disabled, as on some managed services).
   */
  durabilityWarnings(): Promise<string[]>;
  /** Resolves when the queue store answers. */
  ping(): Promise<void>;
  /**
   * Resolves when the queue store accepts writes (readiness): a Redis replica or a demoted master
   * (READONLY), a cluster node that redirects where the client cannot follow, or a PostgreSQL in
   * recovery rejects.
   */
  writable(): Promise<void>;
  /** Closes every producer made here and the shared connection. Workers are closed by their owners. */
  close(): Promise<void>;
}

/** A URL fit for logs: any password replaced. */
export function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** Where the queues are, for logs and start-up banners (never a password). */
export function describeQueueSettings(settings: QueueSettings): string {
  return settings.kind === 'redis'
    ? `${describeRedisTopology(settings.topology)} (key prefix ${queueKeyPrefix(settings.topology, settings.prefix)})`
    : `PostgreSQL ${redactUrl(settings.url)} (BullMQ PostgreSQL backend, schema ${settings.schema})`;
}

/** Builds the queue client for `settings`: the only code that knows which backend is in use. */
export function createQueueClient(settings: QueueSettings, logger?: Logger): QueueClient {
  const producers: { close(): Promise<void> }[] = [];
  const running = new WeakMap<Worker, { running: number; idle: Set<() => void> }>();
  const backend = settings.kind === 'redis' ? redisBackend(settings, logger) : postgresBackend(settings, logger);
  return {
    settings,
    description: describeQueueSettings(settings),
    producer(name, defaultJobOptions) {
      const p = makeProducer(name, () => backend.queue(name, defaultJobOptions), () => backend.ping());
      producers.push(p);
      return p;
    },
    worker(name, processor, opts) {
      const counter = { running: 0, idle: new Set<() => void>() };
      const counted: Processor = async (job) => {
        counter.running += 1;
        try {
          return await processor(job);
        } finally {
          counter.running -= 1;
          if (counter.running === 0) for (const wake of counter.idle) wake();
        }
      };
      const worker = backend.worker(name, counted, opts);
      running.set(worker, counter);
      return worker;
    },
    async stopWorker(worker) {
      const counter = running.get(worker);
      const idle = () => (!counter || counter.running === 0 ? Promise.resolve() : new Promise<void>((resolve) => counter.idle.add(resolve)));
      const reachable = await Promise.race([
        backend.ping().then(() => true, () => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_PING_MS).unref()),
      ]);
      if (!reachable) {
        logger?.warn({ queue: worker.name }, 'the queue store does not answer: stopping the worker without it');
        await worker.close(true);
        return idle();
      }
      // BullMQ's close can stall on a connection that broke and came back (seen after a Redis
      // restart): once every processor has returned and had time to record its job, stop waiting.
      const closed = worker.close().then(() => true, () => true);
      const gaveUp = idle().then(() => new Promise<false>((resolve) => setTimeout(() => resolve(false), CLOSE_AFTER_IDLE_MS).unref()));
      if (!(await Promise.race([closed, gaveUp]))) {
        logger?.warn({ queue: worker.name }, 'the worker did not close after its jobs finished; exiting without it');
      }
    },
    rateLimiter: (opts) => backend.rateLimiter(opts),
    durabilityWarnings: () => backend.durabilityWarnings(),
    ping: () => backend.ping(),
    writable: () => backend.writable(),
    async close() {
      await Promise.allSettled(producers.map((p) => p.close()));
      await backend.close();
    },
  };
}

interface Backend {
  queue(name: string, defaultJobOptions: DefaultJobOptions): Queue;
  worker: QueueClient['worker'];
  rateLimiter: QueueClient['rateLimiter'];
  durabilityWarnings: QueueClient['durabilityWarnings'];
  ping(): Promise<void>;
  writable(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Producers share one connection. Commands fail after one retry, and `add` races a timer, so a
 * request never hangs on a Redis that is down. (The offline queue stays on: BullMQ issues its
 * set-up commands before the first connect, and a refused one would break the queue.) Commands
 * issued in one tick (one request's limit check, another's job add) leave in one write: under
 * load that saves a system call per command, a visible share of the API's CPU.
 */
function redisBackend(settings: Extract<QueueSettings, { kind: 'redis' }>, logger?: Logger): Backend {
  const prefix = queueKeyPrefix(settings.topology, settings.prefix);
  const shared = connectRedis(settings.topology, 'commands', { autoPipelining: true });
  // Reconnection is automatic; without a listener a lost connection would crash the process.
  shared.on('error', reportConnectionErrors(logger, 'redis'));
  return {
    queue: (name, defaultJobOptions) => new Queue(name, { connection: shared, prefix, defaultJobOptions, skipWaitingForReady: true }),
    worker(name, processor, opts = {}) {
      const connection = connectRedis(settings.topology, 'blocking');
      connection.on('error', reportConnectionErrors(logger, 'redis'));
      const worker = new Worker(name, processor, { ...opts, connection, prefix });
      worker.on('closed', () => connection.disconnect());
      return worker;
    },
    // Keys live under the queue prefix (in its slot on a cluster), like every other key of this deployment.
    rateLimiter: (opts) => new RateLimiterRedis({ ...opts, keyPrefix: `${prefix}:limit:${opts.keyPrefix}`, storeClient: shared }),
    // On a cluster every master is asked: a failover may move the queues' slot to any of them.
    async durabilityWarnings() {
      try {
        const found = await Promise.all((await masters(shared)).map(async (node) => {
          const read = async (name: string) => (await node.config('GET', name))[1];
          const [policy, appendonly, save] = await Promise.all([read('maxmemory-policy'), read('appendonly'), read('save')]);
          return redisDurabilityWarnings({ policy, appendonly, save });
        }));
        return [...new Set(found.flat())];
      } catch {
        return [];
      }
    },
    ping: async () => void (await shared.ping()),
    writable: () => probeWrite(shared, prefix),
    close: () => Promise.resolve(shared.disconnect()),
  };
}

// Keepalive probes start after 5 s of silence (Node then probes every second, 10 times), so a
// silently dead idle connection is found in seconds, not the kernel's two hours. A session idle
// inside a transaction for 10 s (its client gone without a word) is ended by the server, releasing
// the job rows it locked. No statement or query timeout: BullMQ's clean-ups may run long, and
// producers already race their own deadline.
function postgresPoolConfig(settings: Extract<QueueSettings, { kind: 'postgres' }>, max: number) {
  return {
    connectionString: settings.url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 5_000,
    idle_in_transaction_session_timeout: 10_000,
    application_name: 'cheershare-queues',
  };
}

/**
 * Each queue gets its own small pool pinned to the queue schema (BullMQ applies the schema only
 * to pools it builds itself); each worker's pool is sized for its concurrency, plus BullMQ's
 * dedicated LISTEN connection. Readiness pings through a pool of one.
 */
function postgresBackend(settings: Extract<QueueSettings, { kind: 'postgres' }>, logger?: Logger): Backend {
  const probe = new pg.Pool({ ...postgresPoolConfig(settings, 1), options: `-c search_path=${settings.schema}` });
  probe.on('error', reportConnectionErrors(logger, 'queue database'));
  const connection = (max: number) => ({ ...postgresPoolConfig(settings, max), schema: settings.schema });
  let limits: pg.Pool | undefined;
  return {
    queue: (name, defaultJobOptions) => {
      const queue = new Queue(name, { connection: connection(3), defaultJobOptions, skipWaitingForReady: true }, createPostgresBackend);
      return queue as unknown as Queue;
    },
    worker(name, processor, opts = {}) {
      const worker = new Worker(name, processor, { ...opts, connection: connection((opts.concurrency ?? 1) + 2) }, createPostgresBackend);
      worker.on('error', reportConnectionErrors(logger, 'queue database'));
      return worker as unknown as Worker;
    },
    // PostgreSQL commits jobs durably (WAL) and never evicts them.
    durabilityWarnings: () => Promise.resolve([]),
    rateLimiter: (opts) => {
      if (!limits) {
        // A blackholed store must not hold a limit check's connection for ever: the check itself
        // gives up sooner (rate-limit.ts), and the connection is then dropped here.
        limits = new pg.Pool({ ...postgresPoolConfig(settings, 4), query_timeout: 3_000, Client: DeadlineClient });
        limits.on('error', reportConnectionErrors(logger, 'queue database'));
      }
      // The table is made by prepareQueueStore (npm run migrate), never at run time.
      return new RateLimiterPostgres({ ...opts, storeClient: limits, storeType: 'pool', schemaName: settings.schema, tableName: RATE_LIMIT_TABLE, tableCreated: true, clearExpiredByTimeout: true });
    },
    // The ledger table exists only in a migrated queue schema.
    ping: async () => void (await probe.query('select 1 from migration limit 1')),
    // A standby (in recovery) answers reads and refuses every write: not ready.
    async writable() {
      const { rows } = await probe.query<{ recovering: boolean }>('select pg_is_in_recovery() as recovering, (select 1 from migration limit 1) as migrated');
      if (rows[0]?.recovering !== false) throw new Error('the queue database is in recovery (a standby): it accepts no writes');
    },
    close: async () => {
      await Promise.all([probe.end(), limits?.end()]);
    },
  };
}

/** The warnings a Redis with these settings deserves (see QueueClient.durabilityWarnings). */
export function redisDurabilityWarnings(c: { policy?: string | undefined; appendonly?: string | undefined; save?: string | undefined }): string[] {
  const warnings: string[] = [];
  if (c.policy !== undefined && c.policy !== 'noeviction') {
    warnings.push(`Redis maxmemory-policy is "${c.policy}": under memory pressure Redis will evict queued jobs (sign-in codes never sent). Set maxmemory-policy noeviction.`);
  }
  if (c.appendonly === 'no') {
    warnings.push((c.save ?? '').trim() === ''
      ? 'Redis keeps nothing on disk (appendonly no, no save points): every queued job is lost if Redis restarts. Turn on appendonly yes.'
      : `Redis persists only snapshots (appendonly no, save "${c.save ?? ''}"): jobs queued since the last snapshot are lost if Redis crashes. Turn on appendonly yes.`);
  }
  return warnings;
}
