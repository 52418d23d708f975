// `npm run dev`: migrate, then run every service (api, mailer-worker, scheduler) against the configured (or local) PostgreSQL,
// Redis and SMTP. With no SMTP_URL and nothing on 127.0.0.1:1025, an in-process development
// inbox takes the mail and prints it here, so the sign-in flow can be tried with curl alone.
// Ctrl-C / SIGTERM drains every service, then exits 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startSmtpSink, type SmtpSink } from '@cheershare/shared/testing';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => process.stdout.write(`[dev] ${line}\n`);

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

let stopping = false;
const children: ChildProcess[] = [];

// Each service gets its own process group, so the terminal's Ctrl-C reaches only this script,
// which relays one SIGTERM: a service that got both would take the second as "force exit".
function run(name: string, entry: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [entry], { cwd: root, env, stdio: 'inherit', detached: true });
  child.once('exit', (code, signal) => {
    say(`${name} exited (${signal ?? code})`);
    if (!stopping) stop(`${name} stopped unexpectedly`);
  });
  return child;
}

function stop(reason: string) {
  if (stopping) {
    for (const c of children) c.kill('SIGKILL');
    process.exit(1);
  }
  stopping = true;
  say(`${reason}: draining services`);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** The text/plain part of a message, quoted-printable undone: what a mail client would show. */
function plainText(raw: string): string {
  const start = raw.indexOf('Content-Type: text/plain');
  const body = start < 0 ? raw : raw.slice(raw.indexOf('\r\n\r\n', start) + 4);
  const part = body.split(/\r?\n--/)[0] ?? '';
  const bytes = part.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8').trim();
}

const env: NodeJS.ProcessEnv = { ...process.env };
let inbox: SmtpSink | undefined;
if (!env.SMTP_URL && !(await portAnswers(1025))) {
  inbox = await startSmtpSink({ port: 1025 });
  env.SMTP_URL = inbox.url;
  say(`no SMTP server configured: development inbox on ${inbox.url}; mail is printed below`);
  let shown = 0;
  setInterval(() => {
    for (const mail of inbox!.mails.slice(shown)) {
      process.stdout.write(`\n[dev inbox] to ${mail.to.join(', ')}: ${mail.headers.get('subject')}\n${plainText(mail.raw)}\n\n`);
    }
    shown = inbox!.mails.length;
  }, 200).unref();
}

const migrate = spawn(process.execPath, ['packages/shared/src/db/migrate-cli.ts'], { cwd: root, env, stdio: 'inherit' });
const [migrated] = (await once(migrate, 'exit')) as [number | null];
if (migrated !== 0) {
  say('migration failed; is PostgreSQL running? (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/cheershare)');
  process.exit(1);
}

children.push(
  run('api', 'services/api/src/main.ts', env),
  run('mailer-worker', 'services/mailer-worker/src/main.ts', env),
  run('scheduler', 'services/scheduler/src/main.ts', env),
);
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

const codes = await Promise.all(children.map(async (c) => (c.exitCode ?? ((await once(c, 'exit')) as [number | null])[0])));
await inbox?.close();
process.exit(codes.every((c) => c === 0) ? 0 : 1);
