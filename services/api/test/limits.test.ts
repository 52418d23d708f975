import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { uniqueEmail } from '@cheershare/shared/testing';
import { startApi, type TestApi } from './harness.ts';

// Clients from distinct loopback addresses stand for distinct IPs.
const ATTACKER = '127.0.0.2';
const OWNER = '127.0.0.3';

describe('per-client limits, shared by every API process', () => {
  const started: TestApi[] = [];
  const api = async (env: Record<string, string>) => {
    const a = await startApi({ env });
    started.push(a);
    return a;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((a) => a.close()));
  });

  const rows = (a: TestApi, email: string) => a.app.deps.db.selectFrom('otp_challenges').select('id').where('email', '=', email).execute();

  it('refuses code requests over the client limit with 429, Retry-After and RateLimit headers, and sends nothing', async () => {
    const a = await api({ OTP_REQUESTS_PER_CLIENT: '3', CLIENT_LIMIT_WINDOW_SECONDS: '600' });
    for (let i = 0; i < 3; i++) expect((await a.ask(uniqueEmail(), { from: ATTACKER })).status).toBe(202);
    const email = uniqueEmail();
    const refused = await a.ask(email, { from: ATTACKER });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('too_many_requests');
    const retry = Number(refused.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(600);
    expect(refused.headers.get('ratelimit-policy')).toBe('"otp";q=3;w=600');
    expect(refused.headers.get('ratelimit')).toMatch(/^"otp";r=0;t=\d+$/);
    expect(await rows(a, email)).toEqual([]);
    expect(await a.app.deps.emailQueue.queue.count()).toBe(3);
    // Another client is not affected.
    const other = await a.ask(email, { from: OWNER });
    expect(other.status).toBe(202);
    expect(other.headers.get('ratelimit')).toMatch(/^"otp";r=2;t=\d+$/);
  });

  it('refuses guessing sprayed across accounts from one client, while an owner signs in from its own', async () => {
    const a = await api({ VERIFY_REQUESTS_PER_CLIENT: '4' });
    const victims = [uniqueEmail(), uniqueEmail(), uniqueEmail()];
    const challenges = await Promise.all(victims.map(async (email) => (await a.ask(email, { from: ATTACKER })).challengeId));
    const guess = (challengeId: string) => a.request('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code: '000000' }, from: ATTACKER });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await guess(challenges[i % 3]!)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const asked = await a.ask(victims[0]!, { from: OWNER });
    const res = await a.request('POST', '/v1/auth/verify', { json: { challenge_id: asked.challengeId, code: await a.codeFor(asked.challengeId) }, from: OWNER });
    expect(res.status).toBe(200);
  });

  it('limits refreshes per client', async () => {
    const a = await api({ REFRESH_REQUESTS_PER_CLIENT: '2' });
    const refresh = (token: string) => a.request('POST', '/v1/auth/refresh', { json: { refresh_token: token }, from: ATTACKER });
    expect((await refresh('nope-1')).status).toBe(401);
    expect((await refresh('nope-2')).status).toBe(401);
    const refused = await refresh('nope-3');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit-policy')).toMatch(/^"refresh";q=2;w=\d+$/);
  });

  it('caps sign-in emails per minute across every client, and counts the refusals in metrics', async () => {
    const a = await api({ EMAILS_PER_MINUTE: '2' });
    expect((await a.ask(uniqueEmail(), { from: '127.0.0.6' })).status).toBe(202);
    expect((await a.ask(uniqueEmail(), { from: '127.0.0.7' })).status).toBe(202);
    const email = uniqueEmail();
    const refused = await a.ask(email, { from: '127.0.0.8' });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('too_many_emails');
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(await rows(a, email)).toEqual([]);
    const metrics = await a.app.deps.metrics.registry.metrics();
    expect(metrics).toMatch(/cheershare_rate_limited_total\{[^}]*limit="emails"[^}]*\} 1/);
  });

  it('shares a client\'s budget between two API processes', async () => {
    const prefix = `shared-${randomBytes(4).toString('hex')}`;
    const env = { OTP_REQUESTS_PER_CLIENT: '4', QUEUE_PREFIX: prefix };
    const [one, two] = [await api(env), await api(env)];
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await (i % 2 ? two : one).ask(uniqueEmail(), { from: ATTACKER })).status);
    expect(statuses).toEqual([202, 202, 202, 202, 429, 429]);
  });

  it('lets the owner sign in from another address right after a stranger did its worst from its own', async () => {
    const a = await api({ OTP_REQUESTS_PER_CLIENT: '20', VERIFY_REQUESTS_PER_CLIENT: '40' });
    const email = uniqueEmail();
    // The stranger asks for codes until its client limit refuses it, and burns every attempt it can.
    for (;;) {
      const asked = await a.ask(email, { from: ATTACKER });
      if (asked.status === 429) break;
      expect(asked.status).toBe(202);
      for (let i = 0; i < 5; i++) {
        const res = await a.request('POST', '/v1/auth/verify', { json: { challenge_id: asked.challengeId, code: String(100000 + i) }, from: ATTACKER });
        if (res.status === 429) break;
      }
    }
    const asked = await a.ask(email, { from: OWNER });
    expect(asked.status).toBe(202);
    expect((await a.app.deps.db.selectFrom('otp_challenges').select('suppressed').where('id', '=', asked.challengeId).executeTakeFirstOrThrow()).suppressed).toBe(false);
    const code = await a.codeFor(asked.challengeId);
    const signedIn = await a.request('POST', '/v1/auth/verify', { json: { challenge_id: asked.challengeId, code }, from: OWNER });
    expect(signedIn.status).toBe(200);
  });
});
