import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startService, testEnv, uniqueEmail, type LogLine, type ServiceProcess } from '@cheershare/shared/testing';
import { send, slowPost, type Outcome } from './http-client.ts';
import { API_ENTRY } from './stack.ts';

const DELAY_MS = 1_500;
const CLIENTS = 12;
// Requests sent this close to the listener closing may reach it just after: refused, or reset
// while still waiting to be accepted. Load balancers stopped sending long before.
const CLOSING_MARGIN_MS = 250;
const DELAY_LOG = 'draining: still accepting until load balancers notice';
const CLOSED_LOG = 'stopped accepting connections';

const answered = (o: Outcome) => o.status !== undefined && o.status >= 200 && o.status < 300;
const logTime = (line: LogLine) => Number(line.time);

/** The API alone, as a child process: the drain is about its HTTP server, no other service is needed. */
async function startApi(extra: Record<string, string> = {}) {
  const uploads = mkdtempSync(join(tmpdir(), 'cheershare-drain-'));
  const env = await testEnv({
    LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0', UPLOAD_DIR: uploads,
    SHUTDOWN_GRACE_MS: '15000', SHUTDOWN_DELAY_MS: String(DELAY_MS),
    // Every request comes from 127.0.0.1, each with an address of its own.
    OTP_RESEND_SECONDS: '0', OTP_REQUESTS_PER_CLIENT: '1000000', EMAILS_PER_MINUTE: '1000000',
    ...extra,
  });
  const proc = startService(API_ENTRY, env);
  const listening = await proc.waitForLog((l) => l.msg === 'api listening');
  return { proc, uploads, base: `http://127.0.0.1:${String(listening.port)}` };
}

describe('api drain on SIGTERM (real process)', () => {
  let api: { proc: ServiceProcess; uploads: string; base: string } | undefined;
  afterEach(async () => {
    await api?.proc.stop('SIGKILL');
    if (api) rmSync(api.uploads, { recursive: true, force: true });
    api = undefined;
  });

  it('keeps serving through the delay with /readyz at 503, then refuses new connections; nothing sent before the signal is reset', async () => {
    api = await startApi();
    const { base, proc } = api;
    const outcomes: Outcome[] = [];
    // Steady load from CLIENTS clients on keep-alive connections and as many with one connection per
    // request, each alternating a bare GET and a POST with a body, until the listener refuses it.
    // Enough that, with the listener closed at the signal, requests queued to be accepted are reset.
    const keepAlive = new Agent({ keepAlive: true });
    const client = async (agent: Agent | false, post: boolean) => {
      for (;; post = !post) {
        const outcome = await (post ? send(base, '/v1/auth/otp', { agent, json: { email: uniqueEmail('drain') } }) : send(base, '/healthz', { agent }));
        outcomes.push(outcome);
        if (outcome.error === 'ECONNREFUSED') return;
      }
    };
    const clients = Array.from({ length: 2 * CLIENTS }, (_, i) => client(i < CLIENTS ? keepAlive : false, i % 2 === 0));
    await expect.poll(() => outcomes.filter(answered).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(30);

    // A keep-alive connection that is idle at the signal, reused during the delay.
    const idle = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await send(base, '/healthz', { agent: idle })).connection).toBe('keep-alive');

    const signalAt = Date.now();
    proc.child.kill('SIGTERM');
    const delayStarted = await proc.waitForLog((l) => l.msg === DELAY_LOG);
    expect(delayStarted.delayMs).toBe(DELAY_MS);

    const ready = await send(base, '/readyz', { agent: false });
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body!).checks.not_draining).toBe(false);
    const reused = await send(base, '/healthz', { agent: idle });
    expect(reused).toMatchObject({ reused: true, status: 200, connection: 'close' });

    const closedAt = logTime(await proc.waitForLog((l) => l.msg === CLOSED_LOG));
    expect(closedAt - signalAt).toBeGreaterThanOrEqual(DELAY_MS);
    expect((await send(base, '/healthz', { agent: false })).error).toBe('ECONNREFUSED');
    expect(await proc.exited).toBe(0);
    await Promise.all(clients);
    keepAlive.destroy();
    idle.destroy();

    // Sent before the signal, some of it still in flight when it came: every one answered.
    const before = outcomes.filter((o) => o.sentAt < signalAt);
    expect(before.filter((o) => o.doneAt > signalAt).length).toBeGreaterThan(0);
    expect(before.filter((o) => !answered(o))).toEqual([]);
    // Sent during the delay, while /readyz said 503: answered too, keep-alive ones told to close.
    const during = outcomes.filter((o) => o.sentAt >= signalAt && o.sentAt < closedAt - CLOSING_MARGIN_MS);
    expect(during.filter((o) => o.sentAt > ready.doneAt && answered(o)).length).toBeGreaterThan(0);
    expect(during.filter((o) => !answered(o))).toEqual([]);
    expect(during.filter((o) => o.sentAt > logTime(delayStarted) && o.connection !== 'close')).toEqual([]);
    // Sent once the listener was closed: refused, the load balancer's cue, never half-answered.
    const after = outcomes.filter((o) => o.sentAt > closedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((o) => o.error !== 'ECONNREFUSED')).toEqual([]);
    expect(outcomes.filter((o) => o.error && o.error !== 'ECONNREFUSED' && o.sentAt < closedAt - CLOSING_MARGIN_MS)).toEqual([]);
  });

  it('finishes a request whose body is still arriving when the listener closes', async () => {
    api = await startApi();
    const { base, proc } = api;
    const slow = await slowPost(base, '/v1/auth/otp', '{"email":');
    proc.child.kill('SIGTERM');
    await proc.waitForLog((l) => l.msg === CLOSED_LOG);
    expect((await send(base, '/healthz', { agent: false })).error).toBe('ECONNREFUSED');
    const answer = await slow.finish(`${JSON.stringify(uniqueEmail('slow'))}}`);
    expect(answer).toMatchObject({ status: 202 });
    expect(await proc.exited).toBe(0);
  });

  it('skips the delay on SIGINT (Ctrl-C on a service started alone)', async () => {
    api = await startApi({ SHUTDOWN_DELAY_MS: '10000' });
    const started = Date.now();
    expect(await api.proc.stop('SIGINT')).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(api.proc.logs.some((l) => l.msg === DELAY_LOG)).toBe(false);
    expect(api.proc.logs.some((l) => l.msg === CLOSED_LOG)).toBe(true);
  });
});
