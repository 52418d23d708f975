import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { RedisNode } from '../queues/redis.ts';
import { startRedisServer, type RedisServer } from './redis-server.ts';
import { waitUntil } from './wait.ts';

// Real Redis topologies for tests, from Debian's redis-server alone (Sentinel is redis-server
// --sentinel): on free loopback ports, each server in a temporary directory, all removed by close().

const run = promisify(execFile);

/** Runs one command on a server and disconnects; undefined when it does not answer. */
async function ask(port: number, ...command: [string, ...(string | number)[]]): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(...command);
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

async function closeAll(servers: RedisServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.close()));
}

/** A Redis Cluster of masters only (no replicas), every slot assigned. */
export interface RedisClusterSet {
  nodes: RedisNode[];
  servers: RedisServer[];
  /** REDIS_CLUSTER_NODES for a service's environment. */
  env: { REDIS_CLUSTER_NODES: string };
  close(): Promise<void>;
}

/** Starts `masters` (default 3) cluster-enabled servers, assigns the slots, and waits for cluster_state:ok on each. */
export async function startRedisCluster(opts: { masters?: number } = {}): Promise<RedisClusterSet> {
  const count = opts.masters ?? 3;
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < count; i += 1) {
      servers.push(await startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }));
    }
    const nodes = servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-yes'], { timeout: 30_000 });
    const ok = async (port: number) => String(await ask(port, 'cluster', 'info')).includes('cluster_state:ok');
    await waitUntil(async () => (await Promise.all(servers.map((s) => ok(s.port)))).every(Boolean), 'the cluster to be ok on every node', 30_000);
    return { nodes, servers, env: { REDIS_CLUSTER_NODES: nodes.map((n) => `${n.host}:${n.port}`).join(',') }, close: () => closeAll(servers) };
  } catch (err) {
    await closeAll(servers);
    throw err;
  }
}

/** One master and one replica watched by three Sentinels, which fail over within seconds. */
export interface RedisSentinelSet {
  /** The master group name the Sentinels monitor. */
  name: string;
  sentinels: RedisNode[];
  /** The data servers: the first master, then its replica (a failover swaps their roles). */
  servers: RedisServer[];
  sentinelServers: RedisServer[];
  /** REDIS_SENTINELS and REDIS_SENTINEL_MASTER for a service's environment. */
  env: { REDIS_SENTINELS: string; REDIS_SENTINEL_MASTER: string };
  /** The data server the Sentinels name as master now. */
  master(): Promise<RedisServer>;
  /** The data server that is not the master. */
  replica(): Promise<RedisServer>;
  /**
   * Kills the master (SIGKILL, a crash) and waits until the Sentinels name the replica master and
   * it accepts writes. Resolves with when the promotion was seen (ms since the epoch).
   */
  failover(): Promise<{ old: RedisServer; promoted: RedisServer; killedAt: number; promotedAt: number }>;
  /**
   * A failover with the master alive (SENTINEL FAILOVER): the replica is promoted and the old
   * master, still running, is made its replica, so clients connected to it meet READONLY.
   */
  switchover(): Promise<{ old: RedisServer; promoted: RedisServer; promotedAt: number }>;
  /** Starts a stopped data server again and waits until it is a replica of the current master. */
  rejoin(server: RedisServer): Promise<void>;
  close(): Promise<void>;
}

const NAME = 'cheershare';

/**
 * Starts the set: master, replica (in sync before this resolves) and three Sentinels with a quorum
 * of two, down-after 1 s and a short failover timeout, so a failover takes a few seconds.
 */
export async function startRedisSentinels(): Promise<RedisSentinelSet> {
  const servers: RedisServer[] = [];
  const sentinelServers: RedisServer[] = [];
  try {
    const first = await startRedisServer({ appendonly: true, appendfsync: 'always' });
    servers.push(first);
    servers.push(await startRedisServer({ appendonly: true, appendfsync: 'always', args: ['--replicaof', '127.0.0.1', String(first.port)] }));
    const inSync = async () => String(await ask(servers[1]!.port, 'info', 'replication')).includes('master_link_status:up');
    await waitUntil(inSync, 'the replica in sync', 15_000);
    const config = [
      `sentinel monitor ${NAME} 127.0.0.1 ${first.port} 2`,
      `sentinel down-after-milliseconds ${NAME} 1000`,
      `sentinel failover-timeout ${NAME} 3000`,
      `sentinel parallel-syncs ${NAME} 1`,
      '',
    ].join('\n');
    for (let i = 0; i < 3; i += 1) sentinelServers.push(await startRedisServer({ sentinelConfig: config }));
    const sentinels = sentinelServers.map((s) => ({ host: '127.0.0.1', port: s.port }));
    // Each Sentinel must know the replica and the other Sentinels before it can fail over.
    const knows = async (port: number) => {
      const info = String(await ask(port, 'info', 'sentinel'));
      return info.includes('slaves=1') && info.includes('sentinels=3');
    };
    await waitUntil(async () => (await Promise.all(sentinels.map((s) => knows(s.port)))).every(Boolean), 'the Sentinels to see the replica and each other', 30_000);

    const masterPort = async (): Promise<number | undefined> => {
      for (const s of sentinels) {
        const addr = await ask(s.port, 'sentinel', 'get-master-addr-by-name', NAME);
        if (Array.isArray(addr)) return Number(addr[1]);
      }
      return undefined;
    };
    const byPort = (port: number | undefined) => servers.find((s) => s.port === port);
    const role = async (s: RedisServer) => String(await ask(s.port, 'role')).split(',')[0];
    const promotedOver = async (old: RedisServer) => {
      let promoted: RedisServer | undefined;
      await waitUntil(async () => {
        const candidate = byPort(await masterPort());
        if (!candidate || candidate === old || (await role(candidate)) !== 'master') return false;
        promoted = candidate;
        return true;
      }, 'a Sentinel failover', 60_000);
      return promoted!;
    };
    const master = async () => {
      const found = byPort(await masterPort());
      if (!found) throw new Error('the Sentinels name no master of this set');
      return found;
    };
    return {
      name: NAME,
      sentinels,
      servers,
      sentinelServers,
      env: { REDIS_SENTINELS: sentinels.map((s) => `${s.host}:${s.port}`).join(','), REDIS_SENTINEL_MASTER: NAME },
      master,
      async replica() {
        const m = await master();
        return servers.find((s) => s !== m)!;
      },
      async failover() {
        const old = await master();
        const killedAt = Date.now();
        await old.stop('kill');
        return { old, promoted: await promotedOver(old), killedAt, promotedAt: Date.now() };
      },
      async switchover() {
        const old = await master();
        const answer = await ask(sentinels[0]!.port, 'sentinel', 'failover', NAME);
        if (answer !== 'OK') throw new Error(`SENTINEL FAILOVER was refused: ${String(answer)}`);
        return { old, promoted: await promotedOver(old), promotedAt: Date.now() };
      },
      async rejoin(server) {
        await server.start();
        const current = await master();
        await waitUntil(async () => {
          const info = String(await ask(server.port, 'info', 'replication'));
          return info.includes('role:slave') && info.includes(`master_port:${current.port}`) && info.includes('master_link_status:up');
        }, 'the old master to rejoin as a replica', 60_000);
      },
      close: () => closeAll([...sentinelServers, ...servers]),
    };
  } catch (err) {
    await closeAll([...sentinelServers, ...servers]);
    throw err;
  }
}
