import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoredJob } from '@cheershare/shared';
import { uniqueEmail } from '@cheershare/shared/testing';
import { manualClock, startApi, type TestApi } from './harness.ts';

describe('POST /v1/auth/otp and /v1/auth/verify', () => {
  const clock = manualClock();
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi({ clock, env: { OTP_RESEND_SECONDS: '30' } });
  });
  afterAll(() => api.close());

  const ask = (email: string, name?: string) => api.request('POST', '/v1/auth/otp', { json: { email, ...(name && { name }) } });
  const verify = (email: string, code: string) => api.request('POST', '/v1/auth/verify', { json: { email, code } });
  const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

  it('answers 202 with the lifetime and resend delay, and queues the job with a deterministic id', async () => {
    const email = uniqueEmail();
    const res = await ask(email);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ expires_in: 600, resend_after: 30 });
    const challenge = await api.app.deps.db.selectFrom('otp_challenges').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
    const job = await api.app.deps.emailQueue.getJob(`otp-${challenge.id}`);
    expect(job?.name).toBe('otp');
  });

  it('stores only a keyed hash and never puts the code in the queue store in clear', async () => {
    const email = uniqueEmail();
    await ask(email);
    const code = await api.codeFor(email);
    const challenge = await api.app.deps.db.selectFrom('otp_challenges').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
    expect(challenge.code_hash).toHaveLength(32);
    expect(challenge.code_hash.toString('utf8')).not.toContain(code);
    const job = await api.app.deps.emailQueue.getJob(`otp-${challenge.id}`);
    expect(JSON.stringify(job?.data)).not.toContain(code);
    const stored = await readStoredJob(api.app.deps.config.queue, 'email', `otp-${challenge.id}`);
    expect(stored).toContain(challenge.id);
    expect(stored).not.toContain(code);
  });

  it('gives the same answer for known and unknown emails', async () => {
    const known = uniqueEmail('known');
    await api.signIn(known);
    clock.advance(31_000);
    const a = await ask(known);
    const b = await ask(uniqueEmail('unknown'));
    expect(a.status).toBe(b.status);
    expect(a.body).toEqual(b.body);
    expect([...a.headers.keys()].sort()).toEqual([...b.headers.keys()].sort());
  });

  it('signs up on the first verify, keeping the offered name, and signs in afterwards', async () => {
    const email = uniqueEmail();
    const first = await api.signIn(email, 'Ada');
    expect(first.user).toMatchObject({ email, name: 'Ada' });
    clock.advance(31_000);
    const again = await api.signIn(email.toUpperCase(), 'Other');
    expect(again.user.id).toBe(first.user.id);
    expect(again.user.name).toBe('Ada');
  });

  it('refuses a second request within the resend delay with 429 and Retry-After', async () => {
    const email = uniqueEmail();
    expect((await ask(email)).status).toBe(202);
    const res = await ask(email);
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe('resend_too_soon');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    clock.advance(30_000);
    expect((await ask(email)).status).toBe(202);
  });

  it('issues one code to a burst of concurrent requests for one email: the limits hold under races', async () => {
    const email = uniqueEmail();
    const answers = await Promise.all(Array.from({ length: 12 }, () => ask(email)));
    expect(answers.map((r) => r.status).sort()).toEqual([202, ...Array<number>(11).fill(429)]);
    const rows = await api.app.deps.db.selectFrom('otp_challenges').select('id').where('email', '=', email).execute();
    expect(rows).toHaveLength(1);
  });

  it('sends at most 5 codes per email per hour', async () => {
    const email = uniqueEmail();
    for (let i = 0; i < 5; i++) {
      expect((await ask(email)).status).toBe(202);
      clock.advance(31_000);
    }
    const refused = await ask(email);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('too_many_codes');
    const retry = Number(refused.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(3000);
    clock.advance(retry * 1000);
    expect((await ask(email)).status).toBe(202);
  });

  it('issues no new code after 10 wrong guesses in a day, so guessing cannot go on forever', async () => {
    const email = uniqueEmail();
    for (let round = 0; round < 2; round++) {
      await ask(email);
      const code = await api.codeFor(email);
      for (let i = 0; i < 5; i++) expect((await verify(email, wrong(code))).status).toBe(401);
      clock.advance(31_000);
    }
    const refused = await ask(email);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('too_many_failures');
    // The same answer for an address nobody has an account for: the limit is per email, not per user.
    clock.advance(24 * 3600_000);
    expect((await ask(email)).status).toBe(202);
  });

  it('rejects a reused code', async () => {
    const email = uniqueEmail();
    await ask(email);
    const code = await api.codeFor(email);
    expect((await verify(email, code)).status).toBe(200);
    const again = await verify(email, code);
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('invalid_code');
  });

  it('kills the code after 5 wrong attempts, even for the right code afterwards', async () => {
    const email = uniqueEmail();
    await ask(email);
    const code = await api.codeFor(email);
    for (let i = 0; i < 5; i++) expect((await verify(email, wrong(code))).status).toBe(401);
    expect((await verify(email, code)).status).toBe(401);
  });

  it('accepts the right code after fewer than 5 wrong attempts', async () => {
    const email = uniqueEmail();
    await ask(email);
    const code = await api.codeFor(email);
    for (let i = 0; i < 4; i++) expect((await verify(email, wrong(code))).status).toBe(401);
    expect((await verify(email, code)).status).toBe(200);
  });

  it('rejects an expired code', async () => {
    const email = uniqueEmail();
    await ask(email);
    const code = await api.codeFor(email);
    clock.advance(600_000);
    const res = await verify(email, code);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_code');
  });

  it('retires the previous code when a new one is issued', async () => {
    const email = uniqueEmail();
    await ask(email);
    const first = await api.codeFor(email);
    clock.advance(30_000);
    await ask(email);
    const second = await api.codeFor(email);
    if (first !== second) expect((await verify(email, first)).status).toBe(401);
    expect((await verify(email, second)).status).toBe(200);
  });

  it('answers wrong, expired, used and unknown codes identically', async () => {
    const email = uniqueEmail();
    await ask(email);
    const code = await api.codeFor(email);
    const wrongRes = await verify(email, wrong(code));
    const unknownRes = await verify(uniqueEmail('nobody'), '123456');
    expect(wrongRes.status).toBe(401);
    expect(unknownRes.status).toBe(401);
    expect(wrongRes.body).toEqual(unknownRes.body);
  });

  it('lets only one of two concurrent verifies of the same code win', async () => {
    const email = uniqueEmail();
    await ask(email);
    const code = await api.codeFor(email);
    const results = await Promise.all([verify(email, code), verify(email, code), verify(email, code)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401]);
  });

  it('never logs codes or tokens', async () => {
    const email = uniqueEmail();
    const tokens = await api.signIn(email);
    const code = await api.codeFor(email);
    await api.request('GET', '/v1/me', { token: tokens.access_token });
    await api.request('POST', '/v1/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    const logs = api.logText();
    expect(logs).toContain('"msg":"request"');
    expect(logs).not.toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));
    expect(logs).not.toContain(tokens.access_token);
    expect(logs).not.toContain(tokens.refresh_token);
  });
});
