import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoredJob } from '@cheershare/shared';
import { uniqueEmail } from '@cheershare/shared/testing';
import { manualClock, startApi, type TestApi } from './harness.ts';

const wrong = (code: string) => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');

describe('POST /v1/auth/otp and /v1/auth/verify', () => {
  const clock = manualClock();
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi({ clock, env: { OTP_RESEND_SECONDS: '30' } });
  });
  afterAll(() => api.close());

  const ask = (email: string, opts: { name?: string; from?: string } = {}) => api.ask(email, opts);
  const verify = (challengeId: string, code: string, from?: string) =>
    api.request('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code }, ...(from && { from }) });
  const challenge = (id: string) => api.app.deps.db.selectFrom('otp_challenges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  /** Asks for a code and reads it out of its job, as the mailer would. */
  const codeOf = async (email: string, from?: string) => {
    const asked = await ask(email, from ? { from } : {});
    expect(asked.status).toBe(202);
    return { challengeId: asked.challengeId, code: await api.codeFor(asked.challengeId), mailed: !(await challenge(asked.challengeId)).suppressed };
  };

  it('answers 202 with a challenge id, the lifetime and the resend delay, and queues the job with a deterministic id', async () => {
    const res = await ask(uniqueEmail());
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ challenge_id: res.challengeId, expires_in: 600, resend_after: 30 });
    const job = await api.app.deps.emailQueue.getJob(`otp-${res.challengeId}`);
    expect(job?.name).toBe('otp');
  });

  it('stores only a keyed hash and never puts the code in the queue store in clear', async () => {
    const { challengeId, code } = await codeOf(uniqueEmail());
    const row = await challenge(challengeId);
    expect(row.code_hash).toHaveLength(32);
    expect(row.code_hash.toString('utf8')).not.toContain(code);
    const job = await api.app.deps.emailQueue.getJob(`otp-${challengeId}`);
    expect(JSON.stringify(job?.data)).not.toContain(code);
    const stored = await readStoredJob(api.app.deps.config.queue, 'email', `otp-${challengeId}`);
    expect(stored).toContain(challengeId);
    expect(stored).not.toContain(code);
  });

  it('gives the same answer for known, unknown, just-used and over-limit addresses', async () => {
    const known = uniqueEmail('known');
    await api.signIn(known);
    const busy = uniqueEmail('busy');
    await ask(busy);
    const answers = [await ask(known), await ask(uniqueEmail('unknown')), await ask(busy)];
    for (const a of answers) {
      expect(a.status).toBe(202);
      expect({ ...a.body, challenge_id: 'x' }).toEqual({ ...answers[0]!.body, challenge_id: 'x' });
      expect([...a.headers.keys()].sort()).toEqual([...answers[0]!.headers.keys()].sort());
    }
    // The busy address was within its resend delay: answered alike, but nothing will be mailed.
    expect((await challenge(answers[2]!.challengeId)).suppressed).toBe(true);
  });

  it('signs up on the first verify, keeping the offered name, and signs in afterwards', async () => {
    const email = uniqueEmail();
    const first = await api.signIn(email, 'Ada');
    expect(first.user).toMatchObject({ email, name: 'Ada' });
    clock.advance(30_000);
    const again = await api.signIn(email.toUpperCase(), 'Other');
    expect(again.user.id).toBe(first.user.id);
    expect(again.user.name).toBe('Ada');
  });

  it('mails one code per resend delay to one client, answering further requests alike without mailing', async () => {
    const email = uniqueEmail();
    expect((await codeOf(email)).mailed).toBe(true);
    expect((await codeOf(email)).mailed).toBe(false);
    // Another client is not held back by this one's delay.
    expect((await codeOf(email, '127.0.0.2')).mailed).toBe(true);
    clock.advance(30_000);
    expect((await codeOf(email)).mailed).toBe(true);
  });

  it('lets an honest resend within the delay use the code already in the inbox, on that code\'s attempts', async () => {
    const email = uniqueEmail();
    const mailed = await codeOf(email);
    const resent = await codeOf(email);
    expect(resent.mailed).toBe(false);
    for (let i = 0; i < 4; i++) expect((await verify(resent.challengeId, wrong(mailed.code))).status).toBe(401);
    expect((await challenge(mailed.challengeId)).attempts).toBe(4);
    // The held-back challenge's own code was never mailed and never works.
    expect((await verify(resent.challengeId, resent.code)).status).toBe(401);
    const again = await codeOf(email);
    expect((await verify(again.challengeId, mailed.code)).status).toBe(401); // attempts used up
    clock.advance(30_000);
    const next = await codeOf(email);
    expect(next.mailed).toBe(true);
    expect((await verify(next.challengeId, next.code)).status).toBe(200);
  });

  it('gives a held-back request from a client with no mailed code nothing to guess at', async () => {
    const capped = await startApi({ clock, env: { OTP_MAX_PER_MAILBOX_HOUR: '1' } });
    try {
      const email = uniqueEmail();
      expect((await capped.ask(email, { from: '127.0.0.9' })).status).toBe(202);
      const held = await capped.ask(email, { from: '127.0.0.10' });
      const code = await capped.codeFor(held.challengeId);
      const row = await capped.app.deps.db.selectFrom('otp_challenges').select(['suppressed', 'stands_for']).where('id', '=', held.challengeId).executeTakeFirstOrThrow();
      expect(row).toEqual({ suppressed: true, stands_for: null });
      const res = await capped.request('POST', '/v1/auth/verify', { json: { challenge_id: held.challengeId, code }, from: '127.0.0.10' });
      expect(res.status).toBe(401);
    } finally {
      await capped.close();
    }
  });

  it('mails one code to a burst of concurrent requests from one client: the limits hold under races', async () => {
    const email = uniqueEmail();
    const answers = await Promise.all(Array.from({ length: 12 }, () => ask(email)));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const rows = await api.app.deps.db.selectFrom('otp_challenges').select('suppressed').where('email', '=', email).execute();
    expect(rows.filter((r) => !r.suppressed)).toHaveLength(1);
  });

  it('mails at most 5 codes an hour to one mailbox for one client; sub-addresses and Gmail dots share the budget', async () => {
    const tag = uniqueEmail('victim').split('@')[0]!;
    const mailbox = (i: number) => (i % 2 ? `${tag}+${i}@gmail.com` : `${tag.slice(0, 3)}.${tag.slice(3)}+${i}@googlemail.com`);
    for (let i = 0; i < 5; i++) {
      expect((await codeOf(mailbox(i))).mailed).toBe(true);
      clock.advance(31_000);
    }
    expect((await codeOf(mailbox(5))).mailed).toBe(false);
    expect((await codeOf(`${tag}@gmail.com`)).mailed).toBe(false);
    // The owner, from another address, still gets a code.
    expect((await codeOf(`${tag}@gmail.com`, '127.0.0.3')).mailed).toBe(true);
    clock.advance(3600_000);
    expect((await codeOf(mailbox(6))).mailed).toBe(true);
  });

  it('issues 10-digit codes once a mailbox has seen 10 wrong guesses in a day, and the owner still signs in', async () => {
    const email = uniqueEmail();
    for (let round = 0; round < 2; round++) {
      const { challengeId, code } = await codeOf(email, '127.0.0.4');
      expect(code).toMatch(/^\d{6}$/);
      for (let i = 0; i < 5; i++) expect((await verify(challengeId, wrong(code), '127.0.0.4')).status).toBe(401);
      clock.advance(31_000);
    }
    const { challengeId, code, mailed } = await codeOf(email);
    expect(mailed).toBe(true);
    expect(code).toMatch(/^\d{10}$/);
    expect((await verify(challengeId, code.slice(0, 6))).status).toBe(401);
    const signedIn = await verify(challengeId, code);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.user.email).toBe(email);
    clock.advance(24 * 3600_000);
    expect((await codeOf(email)).code).toMatch(/^\d{6}$/);
  });

  it('closes 6-digit codes asked for before the budget ran out, so stockpiled challenges buy no extra guesses', async () => {
    const email = uniqueEmail();
    const stockpiled = await codeOf(email, '127.0.0.6');
    for (let round = 0; round < 2; round++) {
      const { challengeId, code } = await codeOf(email, '127.0.0.7');
      for (let i = 0; i < 5; i++) expect((await verify(challengeId, wrong(code), '127.0.0.7')).status).toBe(401);
      clock.advance(31_000);
    }
    expect((await verify(stockpiled.challengeId, stockpiled.code, '127.0.0.6')).status).toBe(401);
    const fresh = await codeOf(email, '127.0.0.8');
    expect(fresh.code).toMatch(/^\d{10}$/);
    expect((await verify(fresh.challengeId, fresh.code, '127.0.0.8')).status).toBe(200);
  });

  it('binds a code to its challenge: a stranger cannot spend the owner\'s attempts or use the code elsewhere', async () => {
    const email = uniqueEmail();
    const owner = await codeOf(email);
    const stranger = await codeOf(email, '127.0.0.5');
    for (let i = 0; i < 5; i++) expect((await verify(stranger.challengeId, wrong(owner.code), '127.0.0.5')).status).toBe(401);
    // The owner's code does not work on the stranger's challenge, and is untouched on its own.
    expect((await verify(stranger.challengeId, owner.code, '127.0.0.5')).status).toBe(401);
    expect((await challenge(owner.challengeId)).attempts).toBe(0);
    expect((await verify(owner.challengeId, owner.code)).status).toBe(200);
  });

  it('rejects a reused code', async () => {
    const { challengeId, code } = await codeOf(uniqueEmail());
    expect((await verify(challengeId, code)).status).toBe(200);
    const again = await verify(challengeId, code);
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('invalid_code');
  });

  it('kills the code after 5 wrong attempts, even for the right code afterwards', async () => {
    const { challengeId, code } = await codeOf(uniqueEmail());
    for (let i = 0; i < 5; i++) expect((await verify(challengeId, wrong(code))).status).toBe(401);
    expect((await verify(challengeId, code)).status).toBe(401);
  });

  it('accepts the right code after fewer than 5 wrong attempts', async () => {
    const { challengeId, code } = await codeOf(uniqueEmail());
    for (let i = 0; i < 4; i++) expect((await verify(challengeId, wrong(code))).status).toBe(401);
    expect((await verify(challengeId, code)).status).toBe(200);
  });

  it('rejects an expired code', async () => {
    const { challengeId, code } = await codeOf(uniqueEmail());
    clock.advance(600_000);
    const res = await verify(challengeId, code);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_code');
  });

  it('answers wrong, expired, used, held-back and unknown challenges identically', async () => {
    const { challengeId, code } = await codeOf(uniqueEmail());
    const busy = uniqueEmail();
    await ask(busy);
    const held = await ask(busy); // within the resend delay: never mailed
    const answers = [
      await verify(challengeId, wrong(code)),
      await verify('00000000-0000-4000-8000-000000000000', '123456'),
      await verify(held.challengeId, '123456'),
    ];
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.body).toEqual(answers[0]!.body);
      expect([...a.headers.keys()].sort()).toEqual([...answers[0]!.headers.keys()].sort());
    }
  });

  it('lets only one of three concurrent verifies of the same code win', async () => {
    const { challengeId, code } = await codeOf(uniqueEmail());
    const results = await Promise.all([verify(challengeId, code), verify(challengeId, code), verify(challengeId, code)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401]);
  });

  it('never logs codes, challenge ids or tokens', async () => {
    const email = uniqueEmail();
    const { challengeId, code } = await codeOf(email);
    const tokens = (await verify(challengeId, code)).body;
    await api.request('GET', '/v1/me', { token: tokens.access_token });
    await api.request('POST', '/v1/auth/refresh', { json: { refresh_token: tokens.refresh_token } });
    const logs = api.logText();
    expect(logs).toContain('"msg":"request"');
    expect(logs).not.toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));
    expect(logs).not.toContain(challengeId);
    expect(logs).not.toContain(tokens.access_token);
    expect(logs).not.toContain(tokens.refresh_token);
  });
});
