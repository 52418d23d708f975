// Entry point run inside the services namespace: the shared PostgreSQL (embedded), on the
// namespace's loopback as its helper starts it, published on the namespace's bridge address by a
// relay, plus the relays to the SMTP sink and for the test's own database connection. Announces
// itself with one JSON line; SIGTERM stops everything.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../packages/shared/src/embedded/postgres.ts';
import { forward } from './forward.ts';

const env = process.env as Record<string, string>;
const addr = env.SVC_ADDR!;
const runDir = env.RUN_DIR!;
mkdirSync(join(runDir, 'pgsock'), { recursive: true });

// Embedded PostgreSQL listens on 127.0.0.1 and its pg_hba admits loopback only: the relay makes
// the hosts' connections arrive from loopback, while they cross the bridge to get here.
const pg = await startEmbeddedPostgres({ dataDir: join(runDir, 'pgdata'), password: env.PG_PASSWORD!, persistent: false, drainMs: 2_000, maxConnections: 300 });
// Never closed before exit: closing would wait for connections the services may still hold.
await forward([
  { listen: { host: addr, port: Number(env.PG_PORT) }, target: { host: '127.0.0.1', port: pg.port } },
  { listen: { path: join(runDir, 'pgsock', `.s.PGSQL.${env.PG_PORT!}`) }, target: { host: '127.0.0.1', port: pg.port } },
  { listen: { host: addr, port: Number(env.SMTP_PORT) }, target: { path: join(runDir, 'smtp.sock') } },
]);
process.stdout.write(`${JSON.stringify({ msg: 'services ready', pgVersion: pg.version })}\n`);

process.once('SIGTERM', () => void pg.stop().finally(() => process.exit(0)));
