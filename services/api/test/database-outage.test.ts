import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { startTcpProxy, testQueueBackend, uniqueEmail, waitUntil, type TcpProxy } from '@cheershare/shared/testing';
import { startApi, type Reply, type TestApi } from './harness.ts';

// The promise the API makes while PostgreSQL does not answer: a 503, measured by the client.
const ANSWER_WITHIN_MS = 5_000;

interface Timed extends Reply {
  ms: number;
}

describe(`a PostgreSQL that stops answering (${testQueueBackend()} queue backend)`, () => {
  let api: TestApi | undefined;
  let proxy: TcpProxy | undefined;

  beforeEach(async () => {
    const direct = inject('databaseUrl');
    const target = new URL(direct);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    // Only the API's own database goes through the proxy: on the PostgreSQL queue backend the
    // queues (and the rate limits kept with them) stay on a direct connection.
    const queues: Record<string, string> = testQueueBackend() === 'postgres' ? { QUEUE_DATABASE_URL: direct } : {};
    api = await startApi({ env: { DATABASE_URL: proxy.via(direct), ...queues } });
  });

  afterEach(async () => {
    proxy?.restore();
    await api?.close();
    await proxy?.close();
    api = proxy = undefined;
  });

  async function timed(method: string, path: string, opts: Parameters<TestApi['request']>[2] = {}): Promise<Timed> {
    const started = Date.now();
    const reply = await api!.request(method, path, opts);
    return { ...reply, ms: Date.now() - started };
  }

  function expectUnavailable(reply: Timed, what: string) {
    expect(reply.status, what).toBe(503);
    expect(reply.ms, what).toBeLessThan(ANSWER_WITHIN_MS);
    if (what.endsWith('/readyz')) {
      expect(reply.body.checks.database, what).toBe(false);
    } else {
      expect(reply.body.error.code, what).toBe('service_unavailable');
      expect(reply.headers.get('retry-after'), what).toBe('5');
    }
  }

  it('answers 503 within 5 s during a blackhole, one request or many, and recovers on its own', async () => {
    const signedIn = await api!.signIn(uniqueEmail());
    const token: string = signedIn.access_token;
    const refresh: string = signedIn.refresh_token;
    const calls: Record<string, () => Promise<Timed>> = {
      'POST /v1/auth/otp': () => timed('POST', '/v1/auth/otp', { json: { email: uniqueEmail() } }),
      'GET /v1/me': () => timed('GET', '/v1/me', { token }),
      // A Kysely transaction.
      'POST /v1/auth/refresh': () => timed('POST', '/v1/auth/refresh', { json: { refresh_token: refresh } }),
      'GET /readyz': () => timed('GET', '/readyz'),
    };
    // The pool now holds idle connections: the blackhole catches those as well as new ones.
    proxy!.blackhole();

    for (const [what, call] of Object.entries(calls)) expectUnavailable(await call(), what);

    // More at once than the pool has connections (10): some wait for a connection, some open one.
    const names = Object.keys(calls);
    const burst = Array.from({ length: 16 }, (_, i) => names[i % names.length]!);
    const answers = await Promise.all(burst.map((what) => calls[what]!()));
    answers.forEach((reply, i) => expectUnavailable(reply, `concurrent ${burst[i]}`));

    proxy!.restore();
    const restored = Date.now();
    await expect.poll(async () => (await calls['GET /v1/me']!()).status, { timeout: 5_000, interval: 100 }).toBe(200);
    expect(Date.now() - restored).toBeLessThan(5_000);
    expect((await calls['GET /readyz']!()).status).toBe(200);
    expect((await calls['POST /v1/auth/otp']!()).status).toBe(202);
    // No refresh made during the outage committed: the token still rotates (a reuse would be 401).
    expect((await calls['POST /v1/auth/refresh']!()).status).toBe(200);
    const after = await Promise.all(Array.from({ length: 16 }, () => calls['GET /v1/me']!()));
    expect(after.map((r) => r.status)).toEqual(after.map(() => 200));
  });

  it('survives every connection being reset, idle or in flight, and the pool reconnects on its own', async () => {
    const signedIn = await api!.signIn(uniqueEmail());
    const token: string = signedIn.access_token;
    const me = () => timed('GET', '/v1/me', { token });
    // Idle connections reset: the next requests find new ones (a request may meet a dead one first).
    expect((await Promise.all(Array.from({ length: 8 }, me))).map((r) => r.status)).toEqual(Array(8).fill(200));
    proxy!.reset();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const reply = await me();
      expect(reply.ms).toBeLessThan(ANSWER_WITHIN_MS);
      statuses.push(reply.status);
    }
    expect(statuses.filter((s) => s === 503).length, statuses.join()).toBeLessThanOrEqual(1);
    expect(statuses.slice(1).every((s) => s === 200), statuses.join()).toBe(true);

    // A transaction whose statement is stuck in a blackhole when the reset comes fails at the
    // reset, not at its deadline; the broken connection, checked out by Kysely, does not take the
    // process down.
    proxy!.blackhole();
    const stuck = timed('POST', '/v1/auth/refresh', { json: { refresh_token: signedIn.refresh_token } });
    await waitUntil(() => proxy!.heldBytes() > 0, 'the refresh to reach the blackhole');
    const resetAt = Date.now();
    proxy!.reset();
    proxy!.restore();
    const failed = await stuck;
    expect(failed.status).toBe(503);
    expect(Date.now() - resetAt).toBeLessThan(1_000);

    const burst = await Promise.all(Array.from({ length: 16 }, me));
    expect(burst.map((r) => r.status)).toEqual(Array(16).fill(200));
    expect((await timed('POST', '/v1/auth/refresh', { json: { refresh_token: signedIn.refresh_token } })).status).toBe(200);
  });
});
