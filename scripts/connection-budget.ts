// The PostgreSQL connection budget, measured (README, PostgreSQL connections and PgBouncer): starts
// the three real services on a fresh database of the server in BUDGET_POSTGRES_URL (default: the
// local one), drives a load that keeps their pools busy, and prints each process's peak number of
// connections by application_name (the socket's owner comes from `ss`, since every service's queue
// pools share one name). The database is dropped at the end.
// Usage: node scripts/connection-budget.ts redis|postgres [KEY=VALUE ...]   (LOAD_MS, default 20000)
import { execFileSync, execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { startSmtpSink } from '../packages/shared/src/testing/smtp-sink.ts';
import { startService, type ServiceProcess } from '../packages/shared/src/testing/processes.ts';
import { makeImage } from '../packages/shared/src/testing/images.ts';

const run = promisify(execFile);
const backend = process.argv[2] === 'redis' ? 'redis' : 'postgres';
const extra = Object.fromEntries(process.argv.slice(3).map((kv) => kv.split('=', 2) as [string, string]));
const admin = process.env.BUDGET_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `budget_${backend}_${process.pid}`;
const url = Object.assign(new URL(admin), { pathname: `/${dbName}` }).toString();
const LOAD_MS = Number(process.env.LOAD_MS ?? 20_000);

const adminClient = new pg.Client(admin);
await adminClient.connect();
await adminClient.query(`create database ${dbName}`);

const sink = await startSmtpSink();
const env: Record<string, string> = {
  NODE_ENV: 'test', LOG_LEVEL: 'info', DATABASE_URL: url, QUEUE_PREFIX: `budget${backend}${process.pid}`,
  ...(backend === 'redis' ? { QUEUE_BACKEND: 'redis', REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' } : { QUEUE_BACKEND: 'postgres' }),
  SMTP_URL: sink.url, HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '0',
  UPLOAD_DIR: mkdtempSync(join(tmpdir(), 'budget-up-')),
  OTP_RESEND_SECONDS: '0', OTP_REQUESTS_PER_CLIENT: '1000000', VERIFY_REQUESTS_PER_CLIENT: '1000000', REFRESH_REQUESTS_PER_CLIENT: '1000000',
  OTP_MAX_PER_HOUR: '1000', OTP_MAX_PER_MAILBOX_HOUR: '10000', EMAILS_PER_MINUTE: '1000000', MAX_CONNECTIONS_PER_CLIENT: '0',
  EMAIL_BACKOFF_MS: '100', DIGEST_CRON: '*/3 * * * * *', CLEANUP_CRON: '* * * * * *',
  ...extra,
};
execFileSync(process.execPath, ['packages/shared/src/db/migrate-cli.ts'], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, stdio: 'inherit' });

const procs: Record<string, ServiceProcess> = {
  api: startService('services/api/src/main.ts', env),
  mailer: startService('services/mailer-worker/src/main.ts', env),
  scheduler: startService('services/scheduler/src/main.ts', env),
};
const apiLine = await procs.api!.waitForLog((l) => l.msg === 'api listening', 30_000);
await procs.mailer!.waitForLog((l) => l.msg === 'mailer-worker running', 30_000);
await procs.scheduler!.waitForLog((l) => l.msg === 'scheduler running', 30_000);
const base = `http://127.0.0.1:${String(apiLine.port)}`;
const apiOperator = `http://127.0.0.1:${String(apiLine.operatorPort)}`;
const operators = await Promise.all(['mailer', 'scheduler'].map(async (s) => `http://127.0.0.1:${String((await procs[s]!.waitForLog((l) => l.operatorPort !== undefined)).operatorPort)}`));
const serviceOfPid = new Map(Object.entries(procs).map(([name, p]) => [p.child.pid!, name]));

// Peak of simultaneous connections per service and application_name, sampled every 100 ms; the
// socket's owner comes from ss (the queue pools of every service share one application_name).
const peak = new Map<string, number>();
const idlePeak = new Map<string, number>();
let totalPeak = 0;
let sampling = true;
let phase: 'before' | 'load' | 'after' = 'before';
const sampler = (async () => {
  const sampleClient = new pg.Client(admin);
  await sampleClient.connect();
  while (sampling) {
    const [{ rows }, { stdout }] = await Promise.all([
      sampleClient.query<{ app: string; port: number }>('select application_name as app, client_port as port from pg_stat_activity where datname = $1', [dbName]),
      run('ss', ['-tnpH', 'dport = :5432']),
    ]);
    const pidOfPort = new Map<number, number>();
    for (const line of stdout.split('\n')) {
      const m = /\S+:(\d+)\s+\S+:5432\s+users:\(\("[^"]*",pid=(\d+)/.exec(line);
      if (m) pidOfPort.set(Number(m[1]), Number(m[2]));
    }
    const now = new Map<string, number>();
    for (const r of rows) {
      const key = `${serviceOfPid.get(pidOfPort.get(r.port) ?? -1) ?? 'other'} ${r.app || '(none)'}`;
      now.set(key, (now.get(key) ?? 0) + 1);
    }
    for (const [k, n] of now) peak.set(k, Math.max(peak.get(k) ?? 0, n));
    totalPeak = Math.max(totalPeak, rows.length);
    if (phase === 'before') for (const [k, n] of now) idlePeak.set(k, Math.max(idlePeak.get(k) ?? 0, n));
    await new Promise((r) => setTimeout(r, 100));
  }
  await sampleClient.end();
})();

const post = async (path: string, json: unknown, token?: string) => {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) }, body: JSON.stringify(json) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as { challenge_id?: string; access_token?: string; refresh_token?: string } };
};
async function signIn(email: string) {
  const seen = sink.mails.length;
  const asked = await post('/v1/auth/otp', { email });
  if (asked.status !== 202) throw new Error(`otp ${asked.status}`);
  const mail = await sink.waitForMail((m) => sink.mails.indexOf(m) >= seen && m.to.includes(email), 30_000);
  const verified = await post('/v1/auth/verify', { challenge_id: asked.body.challenge_id, code: mail.code });
  if (verified.status !== 200) throw new Error(`verify ${verified.status}`);
  return verified.body as { access_token: string; refresh_token: string };
}
const say = (line: string) => process.stdout.write(`${line}\n`);
const users = await Promise.all(Array.from({ length: 8 }, (_, i) => signIn(`budget-${i}@example.test`)));
const image = await makeImage('jpeg', { width: Number(process.env.IMAGE_SIZE ?? 64), height: Number(process.env.IMAGE_SIZE ?? 64) });
const today = new Date().toISOString().slice(0, 10);
say('signed in 8 users; loading');
phase = 'load';

const until = Date.now() + LOAD_MS;
const counts: Record<string, number> = {};
const count = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
const loop = async (body: (i: number) => Promise<string>) => {
  for (let i = 0; Date.now() < until; i++) count(await body(i).catch((e: Error) => `error ${e.message}`));
};
let n = 0;
await Promise.all([
  ...Array.from({ length: 48 }, () => loop(async () => {
    const r = await post('/v1/auth/otp', { email: `load-${n++}@example.test` });
    if (r.status === 202) await post('/v1/auth/verify', { challenge_id: r.body.challenge_id, code: '000000' });
    return `otp ${r.status}`;
  })),
  ...users.map((u) => loop(async () => `me ${(await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${u.access_token}` } })).status}`)),
  ...[...users, ...users].map((u) => loop(async () => {
    const fd = new FormData();
    fd.append('scheduled_on', today);
    fd.append('file', new Blob([new Uint8Array(image)]), 'p.jpg');
    return `upload ${(await fetch(`${base}/v1/creatives`, { method: 'POST', headers: { authorization: `Bearer ${u.access_token}` }, body: fd })).status}`;
  })),
  ...[apiOperator, apiOperator, apiOperator, ...operators, ...operators].map((o) => loop(async () => `metrics ${(await fetch(`${o}/metrics`)).status}`)),
  ...[apiOperator, ...operators].map((o) => loop(async () => `readyz ${(await fetch(`${o}/readyz`)).status}`)),
]);
phase = 'after';
say(`load done: ${JSON.stringify(counts)}, ${sink.mails.length} mails`);
await new Promise((r) => setTimeout(r, 3_000));
sampling = false;
await sampler;

const rows = [...peak].sort(([a], [b]) => a.localeCompare(b));
for (const [k, v] of rows) say(`${k.padEnd(40)} peak ${String(v).padStart(3)}   (before the load, signing in 8 users: ${idlePeak.get(k) ?? 0})`);
const perService: Record<string, number> = {};
for (const [k, v] of rows) perService[k.split(' ')[0]!] = (perService[k.split(' ')[0]!] ?? 0) + v;
say(`sum of the peaks by service ${JSON.stringify(perService)}; peak total at one instant ${totalPeak}`);
await Promise.all(Object.values(procs).map((p) => p.stop()));
await sink.close();
await adminClient.query(`drop database ${dbName} with (force)`);
await adminClient.end();
