import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, jobIds, loadApiConfig, unseal, type Clock } from '@cheershare/shared';
import { testEnv } from '@cheershare/shared/testing';
import { createApiApp, type ApiApp } from '../src/app.ts';
import { checkContract } from './contract.ts';

/** A clock tests can move. */
export function manualClock(start = new Date()): Clock & { advance(ms: number): void; set(d: Date): void } {
  let t = start.getTime();
  return { now: () => new Date(t), advance: (ms) => void (t += ms), set: (d) => void (t = d.getTime()) };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

export interface TestApi {
  app: ApiApp;
  base: string;
  /** Every log line the API wrote (debug level), for secrecy checks. */
  logText(): string;
  lifecycle: { draining: boolean };
  request(method: string, path: string, opts?: { json?: unknown; body?: string | Uint8Array | FormData; token?: string; headers?: Record<string, string> }): Promise<Reply>;
  /** Reads the code of the newest challenge of `email` out of its queued job (as the mailer would). */
  codeFor(email: string): Promise<string>;
  signIn(email: string, name?: string): Promise<any>;
  close(): Promise<void>;
}

/** The real API (real PostgreSQL and queue store), in-process, on an ephemeral port. */
export async function startApi(opts: { env?: Record<string, string>; clock?: Clock; dependencyDown?: boolean } = {}): Promise<TestApi> {
  const uploadDir = mkdtempSync(join(tmpdir(), 'cheershare-api-'));
  const config = loadApiConfig(await testEnv({ HOST: '127.0.0.1', PORT: '0', OTP_RESEND_SECONDS: '0', UPLOAD_DIR: uploadDir, ...opts.env }, { prepareQueues: !opts.dependencyDown }));
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk: Buffer, _enc, cb) => { lines.push(chunk.toString()); cb(); } });
  const logger = createLogger({ level: 'debug', name: 'api-test', destination });
  const lifecycle = { draining: false };
  const app = createApiApp(config, { logger, lifecycle, ...(opts.clock && { clock: opts.clock }) });
  const { port } = await app.start();
  const base = `http://127.0.0.1:${port}`;

  const api: TestApi = {
    app, base, lifecycle,
    logText: () => lines.join(''),
    async request(method, path, { json, body, token, headers = {} } = {}) {
      const h: Record<string, string> = { ...headers };
      if (json !== undefined) h['content-type'] ??= 'application/json';
      if (token) h.authorization = `Bearer ${token}`;
      const res = await fetch(base + path, { method, headers: h, body: json !== undefined ? JSON.stringify(json) : body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch { /* not JSON */ }
      checkContract({ method, url: path, status: res.status, contentType: res.headers.get('content-type'), body: parsed });
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async codeFor(email) {
      const challenge = await app.deps.db.selectFrom('otp_challenges').select('id').where('email', '=', email.toLowerCase())
        .orderBy('created_at', 'desc').limit(1).executeTakeFirstOrThrow();
      const job = await app.deps.emailQueue.getJob(jobIds.otpEmail(challenge.id));
      if (!job) throw new Error(`no queued job for ${email}`);
      return unseal(config.jobEncryptionKey, (job.data as { sealedCode: string }).sealedCode, challenge.id);
    },
    async signIn(email, name) {
      const asked = await api.request('POST', '/v1/auth/otp', { json: { email, ...(name && { name }) } });
      if (asked.status !== 202) throw new Error(`otp: ${asked.status} ${JSON.stringify(asked.body)}`);
      const verified = await api.request('POST', '/v1/auth/verify', { json: { email, code: await api.codeFor(email) } });
      if (verified.status !== 200) throw new Error(`verify: ${verified.status} ${JSON.stringify(verified.body)}`);
      return verified.body;
    },
    async close() {
      await app.deps.emailQueue.obliterate().catch(() => {});
      await app.stop();
    },
  };
  return api;
}

