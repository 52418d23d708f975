import { randomBytes } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

// The one connection factory for Redis, whatever its topology: producers, workers, rate limiters,
// readiness and the store's administration all connect through connectRedis, so a deadline or a
// failover rule set here holds everywhere.

/** A Redis or Sentinel address. */
export interface RedisNode {
  host: string;
  port: number;
}

/**
 * How to reach Redis: one server by URL, a master found through Sentinel, or a Redis Cluster.
 * Credentials of Sentinel and Cluster data nodes are given apart from the addresses.
 */
export type RedisTopology =
  | { mode: 'standalone'; url: string }
  | { mode: 'sentinel'; sentinels: RedisNode[]; master: string; username?: string | undefined; password?: string | undefined; sentinelPassword?: string | undefined }
  | { mode: 'cluster'; nodes: RedisNode[]; username?: string | undefined; password?: string | undefined };

/** A Redis connection of any topology. */
export type RedisConnection = Redis | Cluster;

/**
 * What a connection is for. `commands`: requests that must fail fast (one retry). `blocking`: a
 * worker's connection, whose commands BullMQ retries itself (ioredis must retry for ever).
 */
export type RedisRole = 'commands' | 'blocking';

const CONNECT_TIMEOUT_MS = 3_000;
const retryDelay = (times: number) => Math.min(times * 200, 2_000);

/**
 * READONLY means the server we write to has become a replica (a failover demoted it). Through
 * Sentinel the command is sent again once the connection has found the new master (2); by URL the
 * command fails, and the connection is made again (1), which follows a DNS name or virtual address
 * that moved to the new master, while a fixed replica address keeps failing and readiness says so.
 */
const onReadOnly = (resend: boolean) => (err: Error): boolean | 1 | 2 => (err.message.includes('READONLY') ? (resend ? 2 : 1) : false);

/**
 * Opens a connection to `topology`. Nothing here sets ioredis's `keyPrefix`: BullMQ refuses it, and
 * every key is named with the queue key prefix instead (queueKeyPrefix).
 */
export function connectRedis(topology: RedisTopology, role: RedisRole, opts: { autoPipelining?: boolean } = {}): RedisConnection {
  const autoPipelining = opts.autoPipelining ?? false;
  const perRequest: RedisOptions = { maxRetriesPerRequest: role === 'commands' ? 1 : null, connectTimeout: CONNECT_TIMEOUT_MS };
  if (topology.mode === 'standalone') {
    return new Redis(topology.url, { ...perRequest, enableAutoPipelining: autoPipelining, retryStrategy: retryDelay, reconnectOnError: onReadOnly(false) });
  }
  if (topology.mode === 'sentinel') {
    return new Redis({
      ...perRequest,
      enableAutoPipelining: autoPipelining,
      sentinels: topology.sentinels,
      name: topology.master,
      role: 'master',
      username: topology.username,
      password: topology.password,
      sentinelPassword: topology.sentinelPassword,
      retryStrategy: retryDelay,
      sentinelRetryStrategy: retryDelay,
      // A sentinel that does not answer within a second is skipped for the next one.
      sentinelCommandTimeout: 1_000,
      // No failoverDetector: in ioredis 6.0 it closes a connection that is reconnecting when the
      // master crashes, and that connection then ends for good ("Connection is closed", seen in
      // the multi-host test on 4 of 9 crashes). A crashed master is found by reconnecting through
      // the Sentinels; a demoted one by its READONLY answer.
      reconnectOnError: onReadOnly(true),
    });
  }
  const options: ClusterOptions = {
    redisOptions: { ...perRequest, username: topology.username, password: topology.password },
    enableAutoPipelining: autoPipelining,
    clusterRetryStrategy: retryDelay,
    // A failover takes the cluster a few seconds: retries wait a little between tries.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2_000,
  };
  return new Cluster(topology.nodes, options);
}

/** Whether `client` is a Redis Cluster connection. */
export function isCluster(client: RedisConnection): client is Cluster {
  return client instanceof Cluster;
}

/**
 * The prefix BullMQ and the rate limiters put before every key. On a cluster it is the operator's
 * QUEUE_PREFIX as a hash tag (`{cheershare}`), so every key of a deployment lives in one slot and
 * no script, transaction or multi-key command crosses slots. Elsewhere it is QUEUE_PREFIX itself,
 * the layout earlier versions wrote, so an upgrade (or a move from REDIS_URL to Sentinel on the
 * same data) keeps the jobs already queued.
 */
export function queueKeyPrefix(topology: RedisTopology, prefix: string): string {
  return topology.mode === 'cluster' ? `{${prefix}}` : prefix;
}

/** A glob matching every key of `prefix`'s namespace and the namespaces below it (`prefix-…`). */
export function namespacePattern(topology: RedisTopology, prefix: string): string {
  return topology.mode === 'cluster' ? `{${prefix}*` : `${prefix}*`;
}

/** Where Redis is, for logs: addresses and names, never a password. */
export function describeRedisTopology(topology: RedisTopology): string {
  const list = (nodes: RedisNode[]) => nodes.map((n) => `${n.host}:${n.port}`).join(',');
  if (topology.mode === 'standalone') {
    const u = new URL(topology.url);
    if (u.password) u.password = '***';
    return `Redis ${u.toString()}`;
  }
  if (topology.mode === 'sentinel') return `Redis master "${topology.master}" through Sentinel ${list(topology.sentinels)}`;
  return `Redis Cluster ${list(topology.nodes)}`;
}

/** Logs connection trouble once, then at most every 30 s while it lasts. */
export function reportConnectionErrors(logger: Logger | undefined, what: string): (err: Error) => void {
  let last = 0;
  return (err) => {
    if (!logger || Date.now() - last < 30_000) return;
    last = Date.now();
    logger.warn({ error: err.message }, `${what} connection error (retrying)`);
  };
}

const PROBE_TTL_MS = 10_000;
const probeId = randomBytes(6).toString('hex');

/**
 * Resolves when Redis accepts a write of two keys in one transaction under the queue prefix, as
 * BullMQ's scripts need. A replica or a demoted master (`READONLY`), a cluster without the slot
 * (`CLUSTERDOWN`) reject it, and so does a cluster node reached by URL: the two keys' hash tags
 * are in different slots there (`CROSSSLOT`/`MOVED`), while through the cluster client the prefix's
 * own tag keeps them in one slot. The keys expire by themselves.
 */
export async function probeWrite(client: RedisConnection, keyPrefix: string): Promise<void> {
  const [a, b] = isCluster(client) ? ['a', 'b'] : ['{0}', '{1}'];
  const results = await client.multi()
    .set(`${keyPrefix}:ready:${probeId}:${a}`, '1', 'PX', PROBE_TTL_MS)
    .set(`${keyPrefix}:ready:${probeId}:${b}`, '1', 'PX', PROBE_TTL_MS)
    .exec()
    // EXECABORT says only that a queued command was refused: the refusal itself is the reason.
    .catch((err: Error & { previousErrors?: Error[] }) => {
      throw err.previousErrors?.[0] ?? err;
    });
  const failed = results?.find(([err]) => err)?.[0];
  if (!results || failed) throw failed ?? new Error('the readiness transaction was discarded');
}

/** Each master of a cluster, or the one server: where a SCAN must run to see every key. */
export async function masters(client: RedisConnection): Promise<Redis[]> {
  if (!isCluster(client)) return [client];
  // The node list is filled once the slots are known, which the first command waits for.
  await client.ping();
  return client.nodes('master');
}
