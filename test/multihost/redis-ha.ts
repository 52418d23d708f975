// The queue server of the multi-host test: Debian's redis-server as 1 master, 1 replica and 3
// sentinels, all on the services node's address (run with that node's prefix, so inside its
// namespace). The test's only way in is redis-cli run there too.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '@cheershare/shared/testing';

export const MASTER_NAME = 'cheershare';

export interface RedisHa {
  /** REDIS_SENTINELS and REDIS_SENTINEL_MASTER for the services. */
  env: Record<string, string>;
  /** The port of the data node the first sentinel names as master now. */
  masterPort(): Promise<number>;
  /** Each data node's replication role and each sentinel's master, for failure messages. */
  describe(): Promise<string>;
  /**
   * The master crashes (SIGKILL) and stays down; resolves once every sentinel names the replica
   * and it answers as master. (A SENTINEL FAILOVER with the old master alive is not used: until the
   * sentinels demote it, the old master acknowledges writes that the promoted node never sees.)
   */
  failover(timeoutMs?: number): Promise<{ from: number; to: number }>;
  close(): Promise<void>;
}

interface Daemon {
  child: ChildProcess;
  output: string;
}

/** Starts `redis-server args` and resolves once a line of its output matches `ready`. */
async function daemon(prefix: string[], args: string[], ready: RegExp, what: string): Promise<Daemon> {
  const [command, ...rest] = [...prefix, 'redis-server', ...args];
  const child = spawn(command!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  const d: Daemon = { child, output: '' };
  // Read for as long as it runs (a full pipe would block it); keep the tail for error messages.
  const onData = (c: Buffer) => void (d.output = (d.output + c.toString()).slice(-4000));
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = once(child, 'exit');
  try {
    await Promise.race([
      waitUntil(() => ready.test(d.output), `${what} ready`, 15_000),
      exited.then(([code]) => Promise.reject(new Error(`${what} exited with ${String(code)}`))),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}:\n${d.output}`);
  }
  return d;
}

export async function startRedisHa(opts: { prefix: string[]; addr: string; dir: string; ports: number[] }): Promise<RedisHa> {
  const { prefix, addr, dir } = opts;
  const [p1, p2, ...sentinelPorts] = opts.ports as [number, number, number, number, number];
  const daemons: Daemon[] = [];
  // Asynchronous: the test process also runs the SMTP sink and the clients, which must not stall.
  const cli = (port: number, ...args: string[]) => new Promise<string>((resolve) => {
    const [command, ...rest] = [...prefix, 'redis-cli', '-h', addr, '-p', String(port), ...args];
    execFile(command!, rest, { encoding: 'utf8', timeout: 5_000 }, (_err, stdout) => resolve(String(stdout ?? '').trim()));
  });
  const masterOf = async (sentinel: number) => Number((await cli(sentinel, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)).split('\n')[1]);
  const all = async (checks: Promise<boolean>[]) => (await Promise.all(checks)).every(Boolean);
  // Announce the bridge address: on loopback the replica would otherwise be seen as 127.0.0.1.
  const data = (port: number, more: string[]) => [
    '--port', String(port), '--bind', addr, '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
    '--daemonize', 'no', '--logfile', '', '--replica-announce-ip', addr, ...more,
  ];
  const close = async () => {
    await Promise.all(daemons.splice(0).map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }));
  };
  try {
    mkdirSync(dir, { recursive: true });
    daemons.push(await daemon(prefix, data(p1, []), /Ready to accept connections/, 'redis master'));
    daemons.push(await daemon(prefix, data(p2, ['--replicaof', addr, String(p1)]), /sync: Finished with success/, 'redis replica'));
    for (const port of sentinelPorts) {
      const conf = join(dir, `sentinel-${String(port)}.conf`);
      // Sentinel rewrites its configuration file: each one has its own.
      writeFileSync(conf, [
        `port ${String(port)}`, `bind ${addr}`, 'protected-mode no', 'daemonize no', 'logfile ""', `dir ${dir}`,
        `sentinel announce-ip ${addr}`, `sentinel monitor ${MASTER_NAME} ${addr} ${String(p1)} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`, `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`, '',
      ].join('\n'));
      daemons.push(await daemon(prefix, [conf, '--sentinel'], /\+monitor master/, `sentinel ${String(port)}`));
    }
    // A failover needs a majority of sentinels that know each other and the replica.
    await waitUntil(() => all(sentinelPorts.map(async (p) => /OK 3 usable/.test(await cli(p, 'SENTINEL', 'CKQUORUM', MASTER_NAME))
      && (await cli(p, 'SENTINEL', 'REPLICAS', MASTER_NAME)).includes(String(p2)))), 'sentinels that know each other and the replica', 30_000);
  } catch (err) {
    await close();
    throw err;
  }

  return {
    env: { REDIS_SENTINELS: sentinelPorts.map((p) => `${addr}:${String(p)}`).join(','), REDIS_SENTINEL_MASTER: MASTER_NAME },
    masterPort: () => masterOf(sentinelPorts[0]),
    async describe() {
      const roles = await Promise.all([p1, p2].map(async (p) => `${String(p)}: ${/role:\w+/.exec(await cli(p, 'INFO', 'replication'))?.[0] ?? 'no answer'}`));
      const masters = await Promise.all(sentinelPorts.map(async (p) => `sentinel ${String(p)} names ${String(await masterOf(p))}`));
      return [...roles, ...masters].join('; ');
    },
    async failover(timeoutMs = 30_000) {
      const from = await masterOf(sentinelPorts[0]);
      const master = daemons[from === p1 ? 0 : 1]!.child;
      const died = once(master, 'exit');
      master.kill('SIGKILL');
      await died;
      const to = from === p1 ? p2 : p1;
      await waitUntil(async () => (await all(sentinelPorts.map(async (p) => (await masterOf(p)) === to)))
        && /role:master/.test(await cli(to, 'INFO', 'replication')), 'every sentinel naming the promoted replica', timeoutMs);
      return { from, to };
    },
    close,
  };
}
