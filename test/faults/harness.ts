// The fault suite's stack: the real entry points as child processes, which a scenario can kill,
// restart and point at a proxy or a queue server of its own. Assertions read PostgreSQL directly,
// never through the scenario's proxy.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject } from 'vitest';
import { dateIn } from '@cheershare/shared';
import { startService, startSmtpSink, testEnv, testQueueBackend, uniqueEmail, type ServiceProcess, type SmtpSink } from '@cheershare/shared/testing';
import { requestCode } from './load.ts';

const ENTRIES = {
  api: fileURLToPath(new URL('../../services/api/src/main.ts', import.meta.url)),
  mailer: fileURLToPath(new URL('../../services/mailer-worker/src/main.ts', import.meta.url)),
  scheduler: fileURLToPath(new URL('../../services/scheduler/src/main.ts', import.meta.url)),
};
const READY_LINE = { api: 'api listening', mailer: 'mailer-worker running', scheduler: 'scheduler running' };

export type ServiceName = keyof typeof ENTRIES;

export interface FaultStack {
  env: Record<string, string>;
  sink: SmtpSink;
  /** The run's database, directly. */
  db: pg.Pool;
  /** The API's base URL (the first API started; a restarted API listens elsewhere). */
  base: string;
  /** The latest process of each service. */
  procs: Partial<Record<ServiceName, ServiceProcess>>;
  /** Starts another process of a service (a replacement, or a second replica) and waits until it is running. */
  start(name: ServiceName, extra?: Record<string, string>): Promise<ServiceProcess>;
  /** Exit codes of every process started so far that has ended: `null` when a signal ended it. */
  exitCodes(): Record<string, (number | null)[]>;
  /** Sends SIGTERM to every process still running and collects the exit codes; closes the sink, removes the uploads. */
  stop(): Promise<Record<string, (number | null)[]>>;
}

/** Settings every scenario shares: generous limits (load comes from a handful of addresses), small pools. */
function baseEnv(sink: SmtpSink): Record<string, string> {
  return {
    LOG_LEVEL: 'info', SMTP_URL: sink.url, HOST: '127.0.0.1', PORT: '0',
    OTP_RESEND_SECONDS: '0', OTP_MAX_PER_HOUR: '1000', EMAIL_BACKOFF_MS: '100', SHUTDOWN_GRACE_MS: '15000',
    OTP_REQUESTS_PER_CLIENT: '1000000', VERIFY_REQUESTS_PER_CLIENT: '1000000', REFRESH_REQUESTS_PER_CLIENT: '1000000', EMAILS_PER_MINUTE: '1000000',
    // Several stacks run side by side against one PostgreSQL (100 connections by default).
    DATABASE_POOL_MAX: '5',
    UPLOAD_DIR: mkdtempSync(join(tmpdir(), 'cheershare-faults-')),
    UPLOAD_MAX_BYTES: String(64 * 1024 * 1024),
    // Recurring jobs only when a scenario asks: cleanup works across the shared database.
    DIGEST_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *',
  };
}

/**
 * Starts `services` (default all three) with the run's database and a fresh queue namespace;
 * `env` overrides anything, e.g. DATABASE_URL through a proxy or REDIS_URL of a private server.
 */
export async function startFaultStack(opts: { env?: Record<string, string>; services?: ServiceName[] } = {}): Promise<FaultStack> {
  const sink = await startSmtpSink();
  const env = await testEnv({ ...baseEnv(sink), ...opts.env });
  const db = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
  db.on('error', () => {});
  const started: { name: ServiceName; proc: ServiceProcess }[] = [];
  const procs: FaultStack['procs'] = {};

  const start = async (name: ServiceName, extra: Record<string, string> = {}) => {
    const proc = startService(ENTRIES[name], { ...env, ...extra });
    started.push({ name, proc });
    procs[name] = proc;
    await proc.waitForLog((l) => l.msg === READY_LINE[name], 30_000);
    return proc;
  };
  const exitCodes = () => {
    const codes: Record<string, (number | null)[]> = {};
    for (const { name, proc } of started) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) continue;
      (codes[name] ??= []).push(proc.child.exitCode);
    }
    return codes;
  };

  let stopping: Promise<Record<string, (number | null)[]>> | undefined;
  const stop = () => (stopping ??= (async () => {
    await Promise.all(started.map(({ proc }) => proc.stop('SIGTERM', 20_000)));
    await db.end();
    await sink.goAway();
    rmSync(env.UPLOAD_DIR!, { recursive: true, force: true });
    // A process that failed its stop says why, next to the figures.
    for (const { name, proc } of started) {
      if (proc.child.exitCode) process.stderr.write(`${name} exited ${proc.child.exitCode}; its last lines:\n${proc.output.slice(-12).join('\n')}\n`);
    }
    return exitCodes();
  })());
  try {
    await Promise.all((opts.services ?? ['api', 'mailer', 'scheduler']).map((n) => start(n)));
  } catch (err) {
    await stop();
    throw err;
  }
  const apiLine = procs.api?.logs.find((l) => l.msg === READY_LINE.api);
  return { env, sink, db, procs, start, exitCodes, stop, base: apiLine ? `http://127.0.0.1:${String(apiLine.port)}` : '' };
}

/** Which queue backend this run found (the fault scenarios that need Redis bring their own). */
export const runBackend = testQueueBackend;

/**
 * Prints one scenario's figures as one JSON line, for docs/reliability.md; with FAULT_FIGURES set,
 * also appends it to that file.
 */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const line = `${JSON.stringify({ scenario, run: runBackend(), ...figures })}\n`;
  process.stdout.write(line);
  if (process.env.FAULT_FIGURES) appendFileSync(process.env.FAULT_FIGURES, line);
}

/** A promise that settles after `ms`: the length of an injected fault, never a wait for a condition. */
export function faultLasting(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Signs a fresh user in the real way (code by email, then verify) and returns the access token. */
export async function signIn(stack: Pick<FaultStack, 'base' | 'sink'>, label = 'owner'): Promise<{ email: string; token: string }> {
  const email = uniqueEmail(label);
  const asked = await requestCode(stack.base, email, { from: '127.0.0.2' });
  if (asked.status !== 202 || !asked.challengeId) throw new Error(`sign-in code request: ${String(asked.status)}`);
  const mail = await stack.sink.waitForMail((m) => m.to.includes(email) && !!m.code, 30_000);
  const res = await fetch(`${stack.base}/v1/auth/verify`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ challenge_id: asked.challengeId, code: mail.code }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`verify: ${res.status}`);
  return { email, token: body.access_token };
}

/** Uploads an image scheduled for today; the creative's id when accepted. */
export async function uploadCreative(base: string, token: string, file: Buffer): Promise<{ status: number; id: string | undefined }> {
  const form = new FormData();
  form.append('scheduled_on', dateIn('UTC', new Date()));
  form.append('file', new Blob([new Uint8Array(file)]), 'picture.jpg');
  const res = await fetch(`${base}/v1/creatives`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const body = (await res.json().catch(() => ({}))) as { creative?: { id?: string } };
  return { status: res.status, id: body.creative?.id };
}

/** A creative's row, read directly. */
export async function creativeRow(db: pg.Pool, id: string): Promise<{ status: string; rejection_reason: string | null; processed_at: Date | null } | undefined> {
  const { rows } = await db.query<{ status: string; rejection_reason: string | null; processed_at: Date | null }>(
    'select status, rejection_reason, processed_at from creatives where id = $1', [id]);
  return rows[0];
}
