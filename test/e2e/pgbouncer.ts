import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, chownSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { freePort } from '@cheershare/shared';

/** A PgBouncer of a test's own, on a free loopback port, in front of one database. */
export interface PgBouncer {
  /** The database through PgBouncer: same user, no password (PgBouncer holds it). */
  url: string;
  /** Server connections PgBouncer holds to PostgreSQL right now (its SHOW SERVERS). */
  serverConnections(): Promise<{ count: number; ports: number[] }>;
  /** Clients waiting for a server connection right now (SHOW POOLS cl_waiting). */
  waitingClients(): Promise<number>;
  close(): Promise<void>;
}

export interface PgBouncerOptions {
  /** The database to pool, as a direct postgres:// URL (its password, if any, stays with PgBouncer). */
  target: string;
  poolMode: 'transaction' | 'session';
  /** Server connections per database and user (default_pool_size). */
  poolSize: number;
  /** Run on every new server connection (PgBouncer's connect_query): where session settings go. */
  connectQuery?: string;
}

/** The pgbouncer binary; throws naming the package when it is missing. Debian's lives in /usr/sbin, which a non-root PATH may lack. */
export function findPgBouncer(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, 'pgbouncer'), constants.X_OK);
      return join(dir, 'pgbouncer');
    } catch {
      // not here
    }
  }
  throw new Error('pgbouncer is not installed: this test needs Debian\'s package "pgbouncer" (apt-get install -y pgbouncer)');
}

const quote = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll('\'', '\\\'')}'`;

/**
 * Starts `pgbouncer` with clients trusted on 127.0.0.1 (the user must still be listed, with no
 * password) and one database entry, `cheershare`, pointing at `target`. As root it runs as nobody
 * (PgBouncer refuses root). Resolves once it listens.
 */
export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  const binary = findPgBouncer();
  const target = new URL(opts.target);
  const user = decodeURIComponent(target.username || 'postgres');
  const dir = mkdtempSync(join(tmpdir(), 'cheershare-pgbouncer-'));
  const port = await freePort();
  const server = [
    `host=${target.hostname.replace(/^\[|\]$/g, '')}`, `port=${target.port || '5432'}`, `dbname=${decodeURIComponent(target.pathname.slice(1))}`,
    ...(opts.connectQuery ? [`connect_query=${quote(opts.connectQuery)}`] : []),
  ].join(' ');
  // Clients are trusted; PgBouncer logs in to PostgreSQL with the password listed here.
  writeFileSync(join(dir, 'users.txt'), `"${user}" "${decodeURIComponent(target.password).replaceAll('"', '""')}"\n`);
  writeFileSync(join(dir, 'pgbouncer.ini'), [
    '[databases]', `cheershare = ${server}`,
    '[pgbouncer]', 'listen_addr = 127.0.0.1', `listen_port = ${port}`, 'unix_socket_dir =',
    'auth_type = trust', `auth_file = ${join(dir, 'users.txt')}`, `admin_users = ${user}`,
    `pool_mode = ${opts.poolMode}`, `default_pool_size = ${opts.poolSize}`, 'reserve_pool_size = 0', 'max_client_conn = 500',
    // A client whose query waits this long for a server connection gets an error (SQLSTATE 08P01).
    'query_wait_timeout = 10', 'server_login_retry = 1',
  ].join('\n'));
  // PgBouncer refuses to run as root: it then switches to nobody, who must own its configuration.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim()));
    for (const path of [dir, join(dir, 'users.txt'), join(dir, 'pgbouncer.ini')]) chownSync(path, uid!, gid!);
  }
  const child = spawn(binary, [...(asRoot ? ['-u', 'nobody'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pgbouncer did not start within 10 s:\n${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/process up/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`pgbouncer exited with ${String(code)} before it was ready:\n${output}`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });

  // The admin console speaks the simple query protocol only, which pg uses for queries without values.
  const admin = new pg.Client({ connectionString: `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/pgbouncer` });
  await admin.connect();
  const rows = async (command: string) => (await admin.query<Record<string, unknown>>(command)).rows;
  const ours = (r: Record<string, unknown>) => r.database === 'cheershare';

  return {
    url: `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/cheershare`,
    async serverConnections() {
      const servers = (await rows('SHOW SERVERS')).filter(ours);
      return { count: servers.length, ports: servers.map((s) => Number(s.local_port)) };
    },
    async waitingClients() {
      return (await rows('SHOW POOLS')).filter(ours).reduce((sum, r) => sum + Number(r.cl_waiting), 0);
    },
    async close() {
      await admin.end().catch(() => {});
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
