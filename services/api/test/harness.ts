import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, jobIds, loadApiConfig, unseal, type Clock } from '@cheershare/shared';
import { testEnv } from '@cheershare/shared/testing';
import { createApiApp, type ApiApp } from '../src/app.ts';
import { checkContract } from './contract.ts';

/**
 * One HTTP request from a chosen local address: 127.0.0.2, 127.0.0.3, ... stand for distinct
 * client IPs (fetch cannot choose its source address).
 */
function requestFrom(localAddress: string, url: string, method: string, headers: Record<string, string>, body: string | undefined): Promise<{ status: number; headers: Headers; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Secrets of this test process's own, as a deployment has (the development ones are refused
// behind a proxy, which some tests declare).
const OWN_SECRETS = {
  JOB_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  OTP_HASH_SECRET: randomBytes(32).toString('base64url'),
  SECRET_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  JWT_PRIVATE_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};

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
  /** `from`: a local address (127.0.0.2, ...) to send from, standing for another client IP. */
  request(method: string, path: string, opts?: { json?: unknown; body?: string | Uint8Array | FormData; token?: string; headers?: Record<string, string>; from?: string }): Promise<Reply>;
  /** Asks for a code; `challengeId` is the challenge_id of a 202. */
  ask(email: string, opts?: { name?: string; from?: string }): Promise<Reply & { challengeId: string }>;
  /** Reads the code of a challenge out of its queued job (as the mailer would). */
  codeFor(challengeId: string): Promise<string>;
  signIn(email: string, name?: string): Promise<any>;
  close(): Promise<void>;
}

/** The real API (real PostgreSQL and queue store), in-process, on an ephemeral port. */
export async function startApi(opts: { env?: Record<string, string>; clock?: Clock; dependencyDown?: boolean } = {}): Promise<TestApi> {
  const uploadDir = mkdtempSync(join(tmpdir(), 'cheershare-api-'));
  // Every request of a test comes from 127.0.0.1: per-client limits are raised unless a test sets them.
  const generous = { OTP_REQUESTS_PER_CLIENT: '100000', VERIFY_REQUESTS_PER_CLIENT: '100000', REFRESH_REQUESTS_PER_CLIENT: '100000', EMAILS_PER_MINUTE: '100000' };
  const config = loadApiConfig(await testEnv({ HOST: '127.0.0.1', PORT: '0', OTP_RESEND_SECONDS: '0', UPLOAD_DIR: uploadDir, ...OWN_SECRETS, ...generous, ...opts.env }, { prepareQueues: !opts.dependencyDown }));
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
    async request(method, path, { json, body, token, headers = {}, from } = {}) {
      const h: Record<string, string> = { ...headers };
      if (json !== undefined) h['content-type'] ??= 'application/json';
      if (token) h.authorization = `Bearer ${token}`;
      const payload = json !== undefined ? JSON.stringify(json) : body;
      let res: { status: number; headers: Headers; text: () => Promise<string> | string };
      if (from) {
        if (payload !== undefined && typeof payload !== 'string') throw new Error('request from another address: string bodies only');
        const r = await requestFrom(from, base + path, method, h, payload);
        res = { ...r, text: () => r.text };
      } else {
        res = await fetch(base + path, { method, headers: h, body: payload });
      }
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch { /* not JSON */ }
      checkContract({ method, url: path, status: res.status, contentType: res.headers.get('content-type'), body: parsed });
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async ask(email, { name, from } = {}) {
      const reply = await api.request('POST', '/v1/auth/otp', { json: { email, ...(name && { name }) }, ...(from && { from }) });
      return { ...reply, challengeId: reply.status === 202 ? (reply.body as { challenge_id: string }).challenge_id : '' };
    },
    async codeFor(challengeId) {
      const job = await app.deps.emailQueue.getJob(jobIds.otpEmail(challengeId));
      if (!job) throw new Error(`no queued job for challenge ${challengeId}`);
      return unseal(config.jobEncryptionKey, (job.data as { sealedCode: string }).sealedCode, challengeId);
    },
    async signIn(email, name) {
      const asked = await api.ask(email, { ...(name && { name }) });
      if (asked.status !== 202) throw new Error(`otp: ${asked.status} ${JSON.stringify(asked.body)}`);
      const code = await api.codeFor(asked.challengeId);
      const verified = await api.request('POST', '/v1/auth/verify', { json: { challenge_id: asked.challengeId, code } });
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

