// Three "hosts" on one machine: each a network namespace running its own api, mailer-worker and
// scheduler (the real entry points, NODE_ENV=production) from its own working directory with an
// empty disk, sharing only what runs in the services namespace: PostgreSQL, Redis behind Sentinel
// and an S3 object store. See netns.ts for the machines and client.ts for how the test talks to them.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startS3Server, startService, startSmtpSink, type ServiceProcess, type SmtpSink } from '@cheershare/shared/testing';
import { freePort } from '../../packages/shared/src/embedded/postgres.ts';
import { openBucket, type Bucket } from './bucket.ts';
import type { Endpoint } from './client.ts';
import { forward } from './forward.ts';
import { buildTopology, type Topology } from './netns.ts';
import { startRedisHa, type RedisHa } from './redis-ha.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const ENTRIES = {
  api: here('../../services/api/src/main.ts'),
  mailer: here('../../services/mailer-worker/src/main.ts'),
  scheduler: here('../../services/scheduler/src/main.ts'),
};
const MIGRATE = here('../../packages/shared/src/db/migrate-cli.ts');
const READY_LINE = { api: 'api listening', mailer: 'mailer-worker running', scheduler: 'scheduler running' };
export type ServiceName = keyof typeof ENTRIES;
export const HOSTS = ['a', 'b', 'c'] as const;
export type HostName = (typeof HOSTS)[number];

export interface Host {
  name: HostName;
  addr: string;
  /** Its working directory; `uploads/` in it is its UPLOAD_DIR, which must stay empty. */
  dir: string;
  api: Endpoint;
  /** The API's operator port. */
  ops: Endpoint;
  procs: Partial<Record<ServiceName, ServiceProcess>>;
  start(name: ServiceName): Promise<ServiceProcess>;
  /** SIGKILL to every process of the host: the machine is gone. */
  kill(): Promise<void>;
  /** Runs a one-off command (`node <script> ...args`) on the host, as an operator would; its exit code and output. */
  run(script: string, args: string[]): Promise<{ code: number | null; output: string }>;
}

export interface MultiHost {
  topo: Topology;
  sink: SmtpSink;
  /** The shared database, through a relay in the services namespace. */
  db: pg.Pool;
  redis: RedisHa;
  s3: Endpoint & { bucket: string };
  bucket: Bucket;
  hosts: Record<HostName, Host>;
  /** Every host process started so far. */
  started: { host: HostName; name: ServiceName; proc: ServiceProcess }[];
  /** The services namespace's agent (PostgreSQL, S3, relays): its last lines, for failure messages. */
  agent: ServiceProcess;
  stop(): Promise<void>;
}

function secrets(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = () => randomBytes(32).toString('hex');
  return {
    JOB_ENCRYPTION_KEY: key(), OTP_HASH_SECRET: key(), SECRET_ENCRYPTION_KEY: key(),
    JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export async function startMultiHost(): Promise<MultiHost> {
  const topo = buildTopology();
  process.stdout.write(topo.mode === 'netns'
    ? `multihost: network namespaces joined by a bridge (${Object.entries(topo.addr).map(([n, a]) => `${n}=${a}`).join(' ')})\n`
    : `multihost: NO network namespaces (${topo.reason ?? ''}): every host is a loopback address of its own (${Object.values(topo.addr).join(' ')})\n`);
  const runDir = mkdtempSync(join(tmpdir(), 'cheershare-multihost-'));
  // The embedded PostgreSQL runs as the "postgres" user, which must reach its folder.
  chmodSync(runDir, 0o755);
  const undo: (() => Promise<unknown>)[] = [() => Promise.resolve(topo.destroy()), () => Promise.resolve(rmSync(runDir, { recursive: true, force: true }))];
  const started: MultiHost['started'] = [];
  const stop = async () => {
    await Promise.allSettled(started.map(({ proc }) => proc.stop('SIGTERM', 20_000)));
    for (const step of undo.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    const svc = topo.addr.svc;
    const [pgPort, smtpPort, s3Port, apiPort, apiOps, mailerOps, schedulerOps, ...redisPorts] = await Promise.all(Array.from({ length: 12 }, () => freePort()));
    const password = randomBytes(12).toString('hex');
    const bucket = 'cheershare-multihost';

    const sink = await startSmtpSink();
    const sinkRelay = await forward([{ listen: { path: join(runDir, 'smtp.sock') }, target: { host: '127.0.0.1', port: sink.port } }]);
    undo.push(() => sink.close(), () => sinkRelay.close());

    const agent = startService(here('./services-agent.ts'), {
      SVC_ADDR: svc, RUN_DIR: runDir, PG_PASSWORD: password, PG_PORT: String(pgPort), SMTP_PORT: String(smtpPort),
    }, { prefix: topo.prefix('svc') });
    undo.push(() => agent.stop('SIGTERM', 20_000));
    const store = await startS3Server({ bucket, host: svc, port: s3Port, process: { prefix: topo.prefix('svc') } });
    undo.push(() => store.close());
    const redisStarting = startRedisHa({ prefix: topo.prefix('svc'), addr: svc, dir: join(runDir, 'redis'), ports: redisPorts.slice(0, 5) });
    const [redis] = await Promise.all([redisStarting, agent.waitForLog((l) => l.msg === 'services ready', 90_000)]);
    undo.push(() => redis.close());

    const sock = (name: string) => join(runDir, `${name}.sock`);
    const hostEndpoints = (h: HostName) => ({
      api: { url: `http://${topo.addr[h]}:${String(apiPort)}`, sock: sock(`${h}-api`) },
      ops: { url: `http://${topo.addr[h]}:${String(apiOps)}`, sock: sock(`${h}-ops`) },
    });
    const s3 = { url: store.endpoint, sock: sock('s3'), bucket };
    const relay = startService(here('./forwarder.ts'), {
      FORWARD_SPECS: JSON.stringify([
        ...HOSTS.flatMap((h) => [
          { listen: { path: sock(`${h}-api`) }, target: { host: topo.addr[h], port: apiPort } },
          { listen: { path: sock(`${h}-ops`) }, target: { host: topo.addr[h], port: apiOps } },
        ]),
        { listen: { path: s3.sock }, target: { host: svc, port: s3Port } },
      ]),
    }, { prefix: topo.prefix('cli') });
    undo.push(() => relay.stop('SIGTERM', 5_000));
    await relay.waitForLog((l) => l.msg === 'forwarding');
    const bucketView = openBucket(s3);

    const db = new pg.Pool({ host: join(runDir, 'pgsock'), port: pgPort, user: 'postgres', password, database: 'cheershare', max: 3 });
    db.on('error', () => {});
    undo.push(() => db.end());

    const shared = {
      NODE_ENV: 'production', LOG_LEVEL: 'info', ...secrets(), ...redis.env,
      DATABASE_URL: `postgres://postgres:${password}@${svc}:${String(pgPort)}/cheershare`, DATABASE_POOL_MAX: '4',
      ...store.env,
      // MULTIHOST_STORAGE=local shows what a directory per host does (the creative test fails).
      ...(process.env.MULTIHOST_STORAGE === 'local' && { STORAGE: 'local' }),
      SMTP_URL: `smtp://${svc}:${String(smtpPort)}`, MAIL_FROM: 'cheershare <no-reply@cheershare.test>',
      PORT: String(apiPort), SHUTDOWN_GRACE_MS: '15000', SHUTDOWN_DELAY_MS: '1500',
      // Load comes from one client address; the limits are not what is under test.
      OTP_RESEND_SECONDS: '0', OTP_MAX_PER_HOUR: '1000', OTP_MAX_PER_MAILBOX_HOUR: '10000', EMAILS_PER_MINUTE: '1000000',
      OTP_REQUESTS_PER_CLIENT: '1000000', VERIFY_REQUESTS_PER_CLIENT: '1000000', REFRESH_REQUESTS_PER_CLIENT: '1000000',
      // A killed host's jobs come back within seconds, not the production half-minute.
      EMAIL_BACKOFF_MS: '100', QUEUE_LOCK_MS: '4000', QUEUE_STALLED_INTERVAL_MS: '1000', DELIVERY_LEASE_MS: '3000',
      DIGEST_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *',
    };
    const makeHost = (name: HostName): Host => {
      const dir = join(runDir, `host-${name}`);
      mkdirSync(join(dir, 'uploads'), { recursive: true });
      const addr = topo.addr[name];
      const env = { ...shared, HOST: addr, METRICS_HOST: addr, UPLOAD_DIR: join(dir, 'uploads') };
      const ops = { api: apiOps, mailer: mailerOps, scheduler: schedulerOps };
      const host: Host = {
        name, addr, dir, ...hostEndpoints(name), procs: {},
        async start(service) {
          const proc = startService(ENTRIES[service], { ...env, METRICS_PORT: String(ops[service]) }, { prefix: topo.prefix(name), cwd: dir });
          started.push({ host: name, name: service, proc });
          host.procs[service] = proc;
          await proc.waitForLog((l) => l.msg === READY_LINE[service], 60_000);
          return proc;
        },
        async kill() {
          await Promise.all(Object.values(host.procs).map((p) => p.stop('SIGKILL')));
        },
        run(script, args) {
          const [command, ...rest] = [...topo.prefix(name), process.execPath, script, ...args];
          return new Promise((resolve) => {
            execFile(command!, rest, { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
              resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, output: `${stdout}${stderr}` });
            });
          });
        },
      };
      return host;
    };
    const hosts = { a: makeHost('a'), b: makeHost('b'), c: makeHost('c') };

    // A creates the database; then B and C migrate at once, as two replicas of a migrate job may.
    // (All three at once can race on CREATE DATABASE: ensureDatabaseExists is not safe against itself.)
    for (const wave of [['a'], ['b', 'c']] as HostName[][]) {
      const runs = await Promise.all(wave.map((h) => hosts[h].run(MIGRATE, [])));
      const failed = runs.filter((r) => r.code !== 0);
      if (failed.length > 0) throw new Error(`migration failed:\n${failed.map((r) => r.output.split('\n').slice(-6).join('\n')).join('\n')}`);
    }
    return { topo, sink, db, redis, s3, bucket: bucketView, hosts, started, agent, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
