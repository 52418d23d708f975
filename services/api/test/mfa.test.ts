import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox, hashOpaqueToken } from '@cheershare/shared';
import { uniqueEmail } from '@cheershare/shared/testing';
import { manualClock, startApi, type Reply, type TestApi } from './harness.ts';
import { rfc6238, totpAt, TOTP_REFERENCE } from './totp-reference.ts';

const STEP = 30_000;
const wrong = (code: string) => String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');

describe(`two-factor sign-in with an authenticator app (codes by ${TOTP_REFERENCE})`, () => {
  // 10 s into a time step, so a test's codes never straddle a step boundary by accident.
  const clock = manualClock(new Date(Math.floor(Date.now() / STEP) * STEP + 10_000));
  /** The clock moves on a whole step: a code of the new step is not a replay of the last one. */
  const nextStep = (steps = 1) => clock.advance(steps * STEP);
  const stepsFromNow = (n: number) => new Date(clock.now().getTime() + n * STEP);
  const KEY_1 = randomBytes(32).toString('base64url');
  const KEY_2 = randomBytes(32).toString('base64url');
  const env = { SECRET_ENCRYPTION_KEY: KEY_1, OTP_MAX_PER_HOUR: '1000', OTP_MAX_PER_MAILBOX_HOUR: '1000', MFA_REQUESTS_PER_CLIENT: '100000' };
  let api: TestApi;
  let other: TestApi;
  /** Everything that must never reach a log line. */
  const secrets: string[] = [];

  beforeAll(async () => {
    [api, other] = await Promise.all([startApi({ clock, env }), startApi({ clock, env })]);
  });
  afterAll(() => Promise.all([api.close(), other.close()]));

  const db = () => api.app.deps.db;
  const userOf = async (email: string) => (await db().selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
  const sessionCount = async (userId: string) => Number((await db().selectFrom('sessions').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()).n);
  const events = async (userId: string) => (await db().selectFrom('auth_events').select('kind').where('user_id', '=', userId).execute()).map((e) => e.kind);

  /** The first step: an email code traded at /v1/auth/verify. */
  async function verifyEmail(email: string, via = api): Promise<Reply> {
    const asked = await via.ask(email);
    expect(asked.status).toBe(202);
    return via.request('POST', '/v1/auth/verify', { json: { challenge_id: asked.challengeId, code: await via.codeFor(asked.challengeId) } });
  }
  /** The first step of a user with MFA on: its mfa_token. */
  async function mfaToken(email: string, via = api): Promise<string> {
    const first = await verifyEmail(email, via);
    expect(first.status).toBe(200);
    expect(first.body.mfa_required).toBe(true);
    secrets.push(first.body.mfa_token);
    return first.body.mfa_token;
  }
  const secondStep = (token: string, code: string, via = api) => via.request('POST', '/v1/auth/mfa/verify', { json: { mfa_token: token, code } });

  /** A signed-in user with MFA on, confirmed at the current step. */
  async function enabled() {
    const email = uniqueEmail('mfa');
    const signedIn = await api.signIn(email);
    const enrolment = await api.request('POST', '/v1/me/mfa/totp', { token: signedIn.access_token });
    expect(enrolment.status).toBe(201);
    const { secret } = enrolment.body;
    const confirmed = await api.request('POST', '/v1/me/mfa/totp/confirm', { token: signedIn.access_token, json: { code: totpAt(secret, clock.now()) } });
    expect(confirmed.status).toBe(200);
    secrets.push(secret, enrolment.body.otpauth_uri, ...confirmed.body.recovery_codes);
    return { email, secret, access: signedIn.access_token as string, recoveryCodes: confirmed.body.recovery_codes as string[], userId: await userOf(email) };
  }

  it('checks the reference implementation against RFC 6238\'s own test vector', () => {
    // RFC 6238 Appendix B, SHA-1 at T = 59 s: 94287082 (8 digits).
    expect(rfc6238(Buffer.from('12345678901234567890'), 59, 8)).toBe('94287082');
    expect(totpAt('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', new Date(59_000))).toBe('287082');
  });

  it('enrols with an otpauth URI, confirms with the app\'s code and answers 10 recovery codes once', async () => {
    const email = uniqueEmail('mfa');
    const { access_token: token } = await api.signIn(email);
    const first = await api.request('POST', '/v1/me/mfa/totp', { token });
    expect(first.status).toBe(201);
    // Enrolling again before confirming replaces the pending secret.
    const enrolment = await api.request('POST', '/v1/me/mfa/totp', { token });
    expect(enrolment.status).toBe(201);
    const { secret, otpauth_uri: uri } = enrolment.body;
    secrets.push(first.body.secret, secret, uri);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(secret).not.toBe(first.body.secret);
    const parsed = new URL(uri);
    expect(parsed.protocol).toBe('otpauth:');
    expect(decodeURIComponent(parsed.href.slice('otpauth://totp/'.length, parsed.href.indexOf('?')))).toBe(`cheershare:${email}`);
    expect(Object.fromEntries(parsed.searchParams)).toEqual({ secret, issuer: 'cheershare', algorithm: 'SHA1', digits: '6', period: '30' });

    // Pending is not on: sign-in still answers tokens at once.
    expect((await verifyEmail(email)).body.access_token).toEqual(expect.any(String));
    const stale = await api.request('POST', '/v1/me/mfa/totp/confirm', { token, json: { code: totpAt(first.body.secret, clock.now()) } });
    expect(stale.status).toBe(403);
    expect(stale.body.error.code).toBe('invalid_code');
    const confirmed = await api.request('POST', '/v1/me/mfa/totp/confirm', { token, json: { code: totpAt(secret, clock.now()) } });
    expect(confirmed.status).toBe(200);
    const codes: string[] = confirmed.body.recovery_codes;
    secrets.push(...codes);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}$/);
    const userId = await userOf(email);
    const stored = await db().selectFrom('recovery_codes').select('code_hash').where('user_id', '=', userId).execute();
    expect(stored).toHaveLength(10);
    for (const { code_hash: hash } of stored) for (const code of codes) expect(hash.toString('latin1')).not.toContain(code.replace('-', ''));

    const again = await api.request('POST', '/v1/me/mfa/totp', { token });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('mfa_already_enabled');
    expect(await events(userId)).toContain('mfa_enabled');
  });

  it('answers mfa_required instead of tokens and starts no session until the second factor', async () => {
    const { email, secret, userId } = await enabled();
    nextStep();
    const sessions = await sessionCount(userId);
    const first = await verifyEmail(email);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ mfa_required: true, mfa_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_in: 300 });
    secrets.push(first.body.mfa_token);
    expect(await sessionCount(userId)).toBe(sessions);
    // Stored hashed, bound to the email challenge whose code it follows (spent already).
    const pending = await db().selectFrom('mfa_challenges as m').innerJoin('otp_challenges as c', 'c.id', 'm.challenge_id')
      .select(['c.email', 'c.consumed_at']).where('m.token_hash', '=', hashOpaqueToken(first.body.mfa_token)).executeTakeFirstOrThrow();
    expect(pending.email).toBe(email);
    expect(pending.consumed_at).toBeInstanceOf(Date);

    const second = await secondStep(first.body.mfa_token, totpAt(secret, clock.now()));
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ token_type: 'Bearer', refresh_token: expect.any(String), user: { id: userId, email } });
    expect(await sessionCount(userId)).toBe(sessions + 1);
    const me = await api.request('GET', '/v1/me', { token: second.body.access_token });
    expect(me.status).toBe(200);
    expect(me.body.user.email).toBe(email);
    expect(await events(userId)).toContain('mfa_used');

    // An mfa_token works once, whatever the code.
    nextStep();
    const reused = await secondStep(first.body.mfa_token, totpAt(secret, clock.now()));
    expect(reused.status).toBe(401);
    expect(reused.body.error.code).toBe('invalid_mfa_token');
  });

  it('accepts a code one step either side of now (clock drift), not two', async () => {
    const { email, secret } = await enabled();
    nextStep();
    expect((await secondStep(await mfaToken(email), totpAt(secret, stepsFromNow(1)))).status).toBe(200);
    nextStep(3);
    expect((await secondStep(await mfaToken(email), totpAt(secret, stepsFromNow(-1)))).status).toBe(200);
    nextStep(3);
    const token = await mfaToken(email);
    for (const steps of [2, -2]) {
      const far = await secondStep(token, totpAt(secret, stepsFromNow(steps)));
      expect(far.status, `${steps} steps away`).toBe(401);
      expect(far.body.error.code).toBe('invalid_code');
    }
    expect((await secondStep(token, totpAt(secret, clock.now()))).status).toBe(200);
  });

  it('accepts a code once, also across two API processes, even at the same moment', async () => {
    const { email, secret } = await enabled();
    nextStep();
    const code = totpAt(secret, clock.now());
    const [a, b] = [await mfaToken(email), await mfaToken(email, other)];
    expect((await secondStep(a, code)).status).toBe(200);
    const replayed = await secondStep(b, code, other);
    expect(replayed.status).toBe(401);
    expect(replayed.body.error.code).toBe('invalid_code');

    nextStep();
    const racing = totpAt(secret, clock.now());
    const [c, d] = [await mfaToken(email), await mfaToken(email, other)];
    const statuses = (await Promise.all([secondStep(c, racing), secondStep(d, racing, other)])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 401]);
  });

  it('kills an mfa_token after MFA_MAX_ATTEMPTS wrong codes, and after MFA_TOKEN_TTL_SECONDS', async () => {
    const { email, secret, userId } = await enabled();
    nextStep();
    const token = await mfaToken(email);
    for (let i = 0; i < 5; i++) {
      const res = await secondStep(token, wrong(totpAt(secret, clock.now())));
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_code');
    }
    const dead = await secondStep(token, totpAt(secret, clock.now()));
    expect(dead.status).toBe(401);
    expect(dead.body.error.code).toBe('invalid_mfa_token');
    expect((await events(userId)).filter((k) => k === 'mfa_failed')).toHaveLength(5);

    const late = await mfaToken(email);
    clock.advance(300_000);
    const expired = await secondStep(late, totpAt(secret, clock.now()));
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('invalid_mfa_token');
    expect((await secondStep(await mfaToken(email), totpAt(secret, clock.now()))).status).toBe(200);
  });

  it('signs in once with each recovery code, typed in any case', async () => {
    const { email, recoveryCodes, userId } = await enabled();
    const [code] = recoveryCodes as [string];
    const used = await secondStep(await mfaToken(email), code.toUpperCase());
    expect(used.status).toBe(200);
    expect((await api.request('GET', '/v1/me', { token: used.body.access_token })).status).toBe(200);
    const again = await secondStep(await mfaToken(email), code.replace('-', ''));
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('invalid_code');
    expect(await events(userId)).toContain('recovery_code_used');
  });

  it('replaces the recovery codes when confirmed again, and says so in the activity log', async () => {
    const { email, secret, access, recoveryCodes, userId } = await enabled();
    nextStep();
    const renewed = await api.request('POST', '/v1/me/mfa/totp/confirm', { token: access, json: { code: totpAt(secret, clock.now()) } });
    expect(renewed.status).toBe(200);
    secrets.push(...renewed.body.recovery_codes);
    expect(renewed.body.recovery_codes).not.toContain(recoveryCodes[0]);
    expect(await events(userId)).toContain('recovery_codes_replaced');
    expect((await secondStep(await mfaToken(email), recoveryCodes[0]!)).status).toBe(401);
    expect((await secondStep(await mfaToken(email), renewed.body.recovery_codes[0])).status).toBe(200);
  });

  it('turns MFA off only with a current code; then sign-in answers tokens at once', async () => {
    const { email, secret, access, userId } = await enabled();
    nextStep();
    const refused = await api.request('DELETE', '/v1/me/mfa/totp', { token: access, json: { code: wrong(totpAt(secret, clock.now())) } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('invalid_code');
    expect((await verifyEmail(email)).body.mfa_required).toBe(true);

    const off = await api.request('DELETE', '/v1/me/mfa/totp', { token: access, json: { code: totpAt(secret, clock.now()) } });
    expect(off.status).toBe(204);
    const direct = await verifyEmail(email);
    expect(direct.status).toBe(200);
    expect(direct.body.access_token).toEqual(expect.any(String));
    expect(await db().selectFrom('recovery_codes').select('id').where('user_id', '=', userId).execute()).toEqual([]);
    const twice = await api.request('DELETE', '/v1/me/mfa/totp', { token: access, json: { code: totpAt(secret, stepsFromNow(1)) } });
    expect(twice.status).toBe(409);
    expect(await events(userId)).toEqual(expect.arrayContaining(['mfa_failed', 'mfa_disabled']));
  });

  it('turns MFA off with a recovery code too', async () => {
    const { email, access, recoveryCodes } = await enabled();
    expect((await api.request('DELETE', '/v1/me/mfa/totp', { token: access, json: { code: recoveryCodes[3] } })).status).toBe(204);
    expect((await verifyEmail(email)).body.access_token).toEqual(expect.any(String));
  });

  it('keeps the secret sealed with a key id, bound to its user, and opens it after a key rotation', async () => {
    const { email, secret, userId } = await enabled();
    const { secret_sealed: sealed } = await db().selectFrom('user_totp').select('secret_sealed').where('user_id', '=', userId).executeTakeFirstOrThrow();
    expect(sealed).not.toContain(secret);
    const [version, kid] = sealed.split('.');
    expect(version).toBe('v2');
    expect(kid).toBe(api.app.deps.secrets.kid);
    expect(() => createSecretBox(KEY_1).open(sealed, `totp:${randomBytes(16).toString('hex')}`)).toThrow();
    expect(() => createSecretBox(KEY_2).open(sealed, `totp:${userId}`)).toThrow();

    const rotated = await startApi({ clock, env: { ...env, SECRET_ENCRYPTION_KEY: KEY_2, SECRET_ENCRYPTION_OLD_KEYS: KEY_1 } });
    try {
      expect(rotated.app.deps.secrets.kid).not.toBe(kid);
      nextStep();
      const signedIn = await secondStep(await mfaToken(email, rotated), totpAt(secret, clock.now()), rotated);
      expect(signedIn.status).toBe(200);
      // The accepted code sealed the secret again with the new key: the old one can be retired.
      const { secret_sealed: resealed } = await db().selectFrom('user_totp').select('secret_sealed').where('user_id', '=', userId).executeTakeFirstOrThrow();
      expect(resealed.split('.')[1]).toBe(rotated.app.deps.secrets.kid);
      expect(createSecretBox(KEY_2).open(resealed, `totp:${userId}`)).toBe(secret);
    } finally {
      await rotated.close();
    }
  });

  it('counts second-factor tries against the client\'s MFA_REQUESTS_PER_CLIENT', async () => {
    const limited = await startApi({ clock, env: { ...env, MFA_REQUESTS_PER_CLIENT: '2' } });
    try {
      const guess = { mfa_token: randomBytes(32).toString('base64url'), code: '123456' };
      const replies = [];
      for (let i = 0; i < 3; i++) replies.push(await limited.request('POST', '/v1/auth/mfa/verify', { json: guess, from: '127.0.0.41' }));
      expect(replies.map((r) => r.status)).toEqual([401, 401, 429]);
      expect(replies[2]!.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      await limited.close();
    }
  });

  it('refuses the second step for an hour after MFA_MAX_FAILURES_PER_HOUR wrong codes on the account, whatever the token', async () => {
    const capped = await startApi({ clock, env: { ...env, MFA_MAX_FAILURES_PER_HOUR: '3' } });
    try {
      const { email, secret, userId } = await enabled();
      nextStep();
      // Three wrong codes, each on a fresh mfa_token from a fresh email code and another address.
      for (const from of ['127.0.0.51', '127.0.0.52', '127.0.0.53']) {
        const token = await mfaToken(email, capped);
        const reply = await capped.request('POST', '/v1/auth/mfa/verify', { json: { mfa_token: token, code: wrong(totpAt(secret, clock.now())) }, from });
        expect(reply.status).toBe(401);
      }
      const sessions = await sessionCount(userId);
      const refused = await capped.request('POST', '/v1/auth/mfa/verify', { json: { mfa_token: await mfaToken(email, capped), code: totpAt(secret, clock.now()) }, from: '127.0.0.54' });
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('too_many_attempts');
      expect(refused.headers.get('retry-after')).toBe('3600');
      expect(await sessionCount(userId)).toBe(sessions);
      // An hour later the right code works again.
      clock.advance(3_600_000);
      const later = await capped.request('POST', '/v1/auth/mfa/verify', { json: { mfa_token: await mfaToken(email, capped), code: totpAt(secret, clock.now()) } });
      expect(later.status).toBe(200);
    } finally {
      await capped.close();
    }
  });

  it('needs a recent sign-in to bind an app, and ends the account\'s other sessions when MFA turns on or off', async () => {
    const email = uniqueEmail('mfa');
    const old = await api.signIn(email);
    const elsewhere = await api.signIn(email);
    clock.advance(11 * 60_000);
    // An access token from a sign-in older than MFA_ENROL_MAX_SIGN_IN_AGE_SECONDS (600) cannot bind an app.
    const refreshed = await api.request('POST', '/v1/auth/refresh', { json: { refresh_token: old.refresh_token } });
    expect(refreshed.status).toBe(200);
    const stale = await api.request('POST', '/v1/me/mfa/totp', { token: refreshed.body.access_token });
    expect(stale.status).toBe(403);
    expect(stale.body.error.code).toBe('recent_sign_in_required');
    const userId = await userOf(email);
    expect(await db().selectFrom('user_totp').select('user_id').where('user_id', '=', userId).execute()).toEqual([]);

    const fresh = await api.signIn(email);
    const enrolment = await api.request('POST', '/v1/me/mfa/totp', { token: fresh.access_token });
    expect(enrolment.status).toBe(201);
    secrets.push(enrolment.body.secret);
    const elsewhereMe = await api.request('GET', '/v1/me', { token: elsewhere.access_token });
    expect(elsewhereMe.status).toBe(200);
    const confirmed = await api.request('POST', '/v1/me/mfa/totp/confirm', { token: fresh.access_token, json: { code: totpAt(enrolment.body.secret, clock.now()) } });
    expect(confirmed.status).toBe(200);
    secrets.push(...confirmed.body.recovery_codes);
    // The sessions signed in without the second factor are over; the one that turned it on goes on.
    expect((await api.request('GET', '/v1/me', { token: elsewhere.access_token })).status).toBe(401);
    expect((await api.request('POST', '/v1/auth/refresh', { json: { refresh_token: refreshed.body.refresh_token } })).status).toBe(401);
    expect((await api.request('GET', '/v1/me', { token: fresh.access_token })).status).toBe(200);
  });

  it('rejects a malformed mfa_token or code with 400 and the field', async () => {
    const res = await api.request('POST', '/v1/auth/mfa/verify', { json: { mfa_token: 'short', code: '12345' } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['code', 'mfa_token']);
  });

  it('never writes a secret, recovery code or mfa_token to the log', () => {
    expect(secrets.length).toBeGreaterThan(20);
    const log = api.logText() + other.logText();
    for (const secret of secrets) expect(log).not.toContain(secret);
  });
});
