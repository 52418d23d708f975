// Entry point run inside the services namespace: the shared PostgreSQL (embedded) and object store
// (s3rver), each on its namespace's loopback as their helpers start them, published on the
// namespace's bridge address by relays, plus the relays to the SMTP sink and for the test's own
// database connection. Announces itself with one JSON line; SIGTERM stops everything.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../packages/shared/src/embedded/postgres.ts';
import { startS3Server } from '../../packages/shared/src/testing/s3-server.ts';
import { forward } from './forward.ts';

const env = process.env as Record<string, string>;
const addr = env.SVC_ADDR!;
const runDir = env.RUN_DIR!;
mkdirSync(join(runDir, 'pgsock'), { recursive: true });

// Embedded PostgreSQL listens on 127.0.0.1 and its pg_hba admits loopback only: the relay makes
// the hosts' connections arrive from loopback, while they cross the bridge to get here.
const [pg, s3] = await Promise.all([
  startEmbeddedPostgres({ dataDir: join(runDir, 'pgdata'), password: env.PG_PASSWORD!, persistent: false, drainMs: 2_000, maxConnections: 300 }),
  startS3Server({ bucket: env.S3_BUCKET! }),
]);
const relays = await forward([
  { listen: { host: addr, port: Number(env.PG_PORT) }, target: { host: '127.0.0.1', port: pg.port } },
  { listen: { path: join(runDir, 'pgsock', `.s.PGSQL.${env.PG_PORT!}`) }, target: { host: '127.0.0.1', port: pg.port } },
  { listen: { host: addr, port: Number(env.S3_PORT) }, target: { host: '127.0.0.1', port: s3.port } },
  { listen: { host: addr, port: Number(env.SMTP_PORT) }, target: { path: join(runDir, 'smtp.sock') } },
]);
process.stdout.write(`${JSON.stringify({ msg: 'services ready', pgVersion: pg.version })}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    await relays.close().catch(() => {});
    await Promise.allSettled([pg.stop(), s3.close()]);
    process.exit(0);
  })();
});
