import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startService, startSmtpSink, testEnv, type ServiceProcess, type SmtpSink } from '@cheershare/shared/testing';
import { checkContract } from '../../services/api/test/contract.ts';

export const API_ENTRY = fileURLToPath(new URL('../../services/api/src/main.ts', import.meta.url));
export const MAILER_ENTRY = fileURLToPath(new URL('../../services/mailer-worker/src/main.ts', import.meta.url));
export const SCHEDULER_ENTRY = fileURLToPath(new URL('../../services/scheduler/src/main.ts', import.meta.url));

export interface Stack {
  env: Record<string, string>;
  sink: SmtpSink;
  api: ServiceProcess;
  mailer: ServiceProcess;
  /** Present when started with `{ scheduler: true }`. */
  scheduler?: ServiceProcess;
  base: string;
  /** Operator ports (/healthz, /readyz, /metrics) of each service. */
  operators: { api: number; mailer: number; scheduler?: number };
  call(method: string, path: string, opts?: { json?: unknown; token?: string }): Promise<{ status: number; body: any }>;
  /** Asks for a code: the challenge id from the answer, and the code as it arrived by email. */
  requestCode(email: string): Promise<{ challengeId: string; code: string }>;
  startApi(extra?: Record<string, string>): Promise<{ proc: ServiceProcess; base: string }>;
  stop(): Promise<void>;
}

/** The real entry points as child processes, sharing this test's database, queue prefix and SMTP sink. */
export async function startStack(extra: Record<string, string> = {}, opts: { scheduler?: boolean } = {}): Promise<Stack> {
  const sink = await startSmtpSink();
  const env = await testEnv({
    LOG_LEVEL: 'info', SMTP_URL: sink.url, HOST: '127.0.0.1', PORT: '0',
    OTP_RESEND_SECONDS: '0', EMAIL_BACKOFF_MS: '100', SHUTDOWN_GRACE_MS: '15000',
    // Every request of a test comes from 127.0.0.1.
    OTP_REQUESTS_PER_CLIENT: '100000', VERIFY_REQUESTS_PER_CLIENT: '100000', REFRESH_REQUESTS_PER_CLIENT: '100000', EMAILS_PER_MINUTE: '100000',
    UPLOAD_DIR: mkdtempSync(join(tmpdir(), 'cheershare-e2e-')),
    // Recurring jobs only when a test asks: cleanup would delete other files' rows in the shared database.
    DIGEST_CRON: '0 0 1 1 *', CLEANUP_CRON: '0 0 1 1 *',
    ...extra,
  });
  const startApi = async (more: Record<string, string> = {}) => {
    const proc = startService(API_ENTRY, { ...env, ...more });
    const line = await proc.waitForLog((l) => l.msg === 'api listening');
    return { proc, base: `http://127.0.0.1:${String(line.port)}` };
  };
  const mailer = startService(MAILER_ENTRY, env);
  const scheduler = opts.scheduler ? startService(SCHEDULER_ENTRY, env) : undefined;
  let apiOperator = 0;
  const [{ proc: api, base }, mailerReady, schedulerReady] = await Promise.all([
    startApi().then(async (started) => {
      apiOperator = Number((await started.proc.waitForLog((l) => l.msg === 'api listening')).operatorPort);
      return started;
    }),
    mailer.waitForLog((l) => l.msg === 'mailer-worker running'),
    scheduler?.waitForLog((l) => l.msg === 'scheduler running'),
  ]);
  const operators = {
    api: apiOperator, mailer: Number(mailerReady.operatorPort),
    ...(schedulerReady && { scheduler: Number(schedulerReady.operatorPort) }),
  };

  const call: Stack['call'] = async (method, path, { json, token } = {}) => {
    const headers: Record<string, string> = {};
    if (json !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(base + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
    const text = await res.text();
    const body = text ? JSON.parse(text) : undefined;
    checkContract({ method, url: path, status: res.status, contentType: res.headers.get('content-type'), body });
    return { status: res.status, body };
  };

  return {
    env, sink, api, mailer, base, operators, call, startApi,
    ...(scheduler && { scheduler }),
    async requestCode(email) {
      const seen = sink.mails.length;
      const res = await call('POST', '/v1/auth/otp', { json: { email } });
      if (res.status !== 202) throw new Error(`otp request: ${res.status} ${JSON.stringify(res.body)}`);
      const mail = await sink.waitForMail((m) => sink.mails.indexOf(m) >= seen && m.to.includes(email.toLowerCase()));
      if (!mail.code) throw new Error('no code in the email');
      return { challengeId: (res.body as { challenge_id: string }).challenge_id, code: mail.code };
    },
    async stop() {
      await Promise.all([api.stop(), mailer.stop(), scheduler?.stop()]);
      await sink.close();
    },
  };
}
