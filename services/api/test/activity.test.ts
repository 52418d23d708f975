import { createHash, randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueEmail } from '@cheershare/shared/testing';
import { startApi, type TestApi } from './harness.ts';

interface Tokens {
  access_token: string;
  refresh_token: string;
  user: { id: string };
}
interface Event {
  id: string;
  at: string;
  kind: string;
  ip: string | null;
  user_agent: string | null;
  session_id: string | null;
  current_session: boolean;
}

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid;

describe('account activity: GET /v1/me/activity', () => {
  let api: TestApi;
  // Everything secret the API handed out or used here: none of it may reach auth_events.
  const secrets = new Set<string>();
  const laptop = { from: '127.0.0.2', userAgent: 'Mozilla/5.0 (Macintosh) Safari/19.0' };
  const phone = { from: '127.0.0.3', userAgent: 'cheershare-android/3.0' };

  beforeAll(async () => {
    api = await startApi();
    secrets.add(api.app.deps.config.otpHashSecret).add(api.app.deps.config.jobEncryptionKey);
  });
  afterAll(() => api.close());

  const keep = (t: Tokens) => {
    secrets.add(t.access_token).add(t.refresh_token);
    return t;
  };
  async function ask(email: string, client: { from: string; userAgent: string }) {
    const asked = await api.request('POST', '/v1/auth/otp', { json: { email }, from: client.from, headers: { 'user-agent': client.userAgent } });
    expect(asked.status).toBe(202);
    const code = await api.codeFor(asked.body.challenge_id);
    secrets.add(code);
    return { challengeId: asked.body.challenge_id as string, code };
  }
  const verify = (challengeId: string, code: string, client: { from: string; userAgent: string }) =>
    api.request('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code }, from: client.from, headers: { 'user-agent': client.userAgent } });
  async function signInAs(email: string, client: { from: string; userAgent: string }): Promise<Tokens> {
    const { challengeId, code } = await ask(email, client);
    const verified = await verify(challengeId, code, client);
    expect(verified.status).toBe(200);
    return keep(verified.body as Tokens);
  }
  const refresh = async (token: string, client: { from: string; userAgent: string }) => {
    const res = await api.request('POST', '/v1/auth/refresh', { json: { refresh_token: token }, from: client.from, headers: { 'user-agent': client.userAgent } });
    expect(res.status).toBe(200);
    return keep(res.body as Tokens);
  };
  const activity = async (token: string, query = '') => {
    const res = await api.request('GET', `/v1/me/activity${query}`, { token });
    expect(res.status).toBe(200);
    return res.body as { events: Event[]; next_cursor: string | null };
  };

  it('shows a sign-in, a failed code, a refresh and a logout, newest first, with address, user agent and session', async () => {
    const email = uniqueEmail();
    const first = await signInAs(email, laptop);
    const { challengeId, code } = await ask(email, phone);
    // A 10-digit guess at a 6-digit code: wrong, and unique enough to look for afterwards.
    const wrong = String(randomInt(1e9, 1e10));
    secrets.add(wrong);
    expect((await verify(challengeId, wrong, phone)).status).toBe(401);
    const verified = await verify(challengeId, code, phone);
    expect(verified.status).toBe(200);
    const second = keep(verified.body as Tokens);
    const rotated = await refresh(second.refresh_token, phone);
    const out = await api.request('POST', '/v1/auth/logout', { token: rotated.access_token, from: phone.from, headers: { 'user-agent': phone.userAgent } });
    expect(out.status).toBe(204);

    const { events, next_cursor: next } = await activity(first.access_token);
    expect(next).toBeNull();
    const [s1, s2] = [sidOf(first.access_token), sidOf(second.access_token)];
    const onPhone = { ip: '127.0.0.3', user_agent: phone.userAgent, current_session: false };
    // The first request came before the account existed: it is nobody's.
    expect(events).toMatchObject([
      { kind: 'logout', session_id: s2, ...onPhone },
      { kind: 'refreshed', session_id: s2, ...onPhone },
      { kind: 'code_verified', session_id: s2, ...onPhone },
      { kind: 'code_failed', session_id: null, ...onPhone },
      { kind: 'code_requested', session_id: null, ...onPhone },
      { kind: 'code_verified', session_id: s1, ip: '127.0.0.2', user_agent: laptop.userAgent, current_session: true },
    ]);
    const times = events.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(Object.keys(events[0]!).sort()).toEqual(['at', 'current_session', 'id', 'ip', 'kind', 'session_id', 'user_agent']);
  });

  it('records ending a session and logging out everywhere', async () => {
    const email = uniqueEmail();
    const a = await signInAs(email, laptop);
    const b = await signInAs(email, phone);
    expect((await api.request('DELETE', `/v1/me/sessions/${sidOf(b.access_token)}`, { token: a.access_token })).status).toBe(204);
    expect((await api.request('POST', '/v1/auth/logout-all', { token: a.access_token, json: { keep_current: true } })).status).toBe(204);
    const { events } = await activity(a.access_token);
    expect(events.slice(0, 2)).toMatchObject([
      { kind: 'logout_all', session_id: sidOf(a.access_token), current_session: true },
      { kind: 'session_revoked', session_id: sidOf(b.access_token), current_session: false },
    ]);
  });

  it('records refresh-token reuse against the session it revoked', async () => {
    const noGrace = await startApi({ env: { REFRESH_REUSE_GRACE_SECONDS: '0' } });
    try {
      const email = uniqueEmail();
      const first = keep(await noGrace.signIn(email));
      const rotated = await noGrace.request('POST', '/v1/auth/refresh', { json: { refresh_token: first.refresh_token } });
      keep(rotated.body as Tokens);
      expect((await noGrace.request('POST', '/v1/auth/refresh', { json: { refresh_token: first.refresh_token } })).status).toBe(401);
      const later = keep(await noGrace.signIn(email));
      const { events } = (await noGrace.request('GET', '/v1/me/activity', { token: later.access_token })).body as { events: Event[] };
      expect(events.map((e) => [e.kind, e.session_id])).toEqual([
        ['code_verified', sidOf(later.access_token)],
        ['code_requested', null],
        ['refresh_reuse_detected', sidOf(first.access_token)],
        ['refreshed', sidOf(first.access_token)],
        ['code_verified', sidOf(first.access_token)],
      ]);
    } finally {
      await noGrace.close();
    }
  });

  it('pages newest first with next_cursor, and refuses a cursor or limit it did not make', async () => {
    const email = uniqueEmail();
    let tokens = await signInAs(email, laptop);
    for (let i = 0; i < 6; i++) tokens = await refresh(tokens.refresh_token, laptop);
    const all = (await activity(tokens.access_token, '?limit=100')).events;
    expect(all).toHaveLength(7);
    expect((await activity(tokens.access_token)).events).toEqual(all);

    const pages: Event[][] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page = await activity(tokens.access_token, `?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(page.events);
      cursor = page.next_cursor;
    }
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(all);

    const cursorOf = (text: string) => `?cursor=${Buffer.from(text).toString('base64url')}`;
    const hostileCursors = [
      cursorOf(`${new Date().toISOString()}|0`),
      // Past PostgreSQL's bigint, and a year it cannot store: refused here, not a 500 from the database.
      cursorOf('2024-01-01T00:00:00.000Z|9999999999999999999'),
      cursorOf('-010000-01-01T00:00:00.000Z|1'),
      cursorOf('2024-01-01|1'),
    ];
    for (const query of ['?limit=0', '?limit=101', '?limit=x', '?cursor=bm90LWEtY3Vyc29y', ...hostileCursors]) {
      const res = await api.request('GET', `/v1/me/activity${query}`, { token: tokens.access_token });
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect((await api.request('GET', '/v1/me/activity')).status).toBe(401);
  });

  it('never shows another user\'s events', async () => {
    const mine = await signInAs(uniqueEmail(), laptop);
    const before = (await activity(mine.access_token)).events;
    const theirEmail = uniqueEmail();
    const theirs = await signInAs(theirEmail, laptop);
    const { challengeId } = await ask(theirEmail, laptop);
    expect((await verify(challengeId, '0000000000', laptop)).status).toBe(401);
    await refresh(theirs.refresh_token, laptop);
    // Same address, same user agent: still only my own events.
    expect((await activity(mine.access_token)).events).toEqual(before);
    const ids = (await activity(mine.access_token)).events.map((e) => e.id);
    const owners = await api.app.deps.db.selectFrom('auth_events').select('user_id').distinct().where('id', 'in', ids).execute();
    expect(owners).toEqual([{ user_id: mine.user.id }]);
    const theirEvents = (await activity((await signInAs(theirEmail, phone)).access_token)).events;
    expect(theirEvents.some((e) => ids.includes(e.id))).toBe(false);
  });

  it('shows requests held back by a limit, and longer codes', async () => {
    const strict = await startApi({ env: { OTP_RESEND_SECONDS: '30', OTP_LONG_CODES_AFTER_FAILURES: '1' } });
    try {
      const email = uniqueEmail();
      const tokens = await strict.signIn(email);
      const held = await strict.ask(email);
      expect(held.status).toBe(202);
      // A wrong guess from another client: the mailbox's next codes are 10 digits long.
      const other = await strict.ask(email, { from: '127.0.0.5' });
      expect((await strict.request('POST', '/v1/auth/verify', { json: { challenge_id: other.challengeId, code: '000000' }, from: '127.0.0.5' })).status).toBe(401);
      const long = await strict.ask(email, { from: '127.0.0.6' });
      expect(await strict.codeFor(long.challengeId)).toMatch(/^\d{10}$/);
      const events = (await strict.request('GET', '/v1/me/activity', { token: tokens.access_token })).body.events as Event[];
      expect(events.map((e) => [e.kind, e.ip])).toEqual([
        ['long_code_issued', '127.0.0.6'],
        ['code_failed', '127.0.0.5'],
        ['code_requested', '127.0.0.5'],
        ['limit_refused', '127.0.0.1'],
        ['code_verified', '127.0.0.1'],
      ]);
    } finally {
      await strict.close();
    }
  });

  it('records a client\'s first refusal by a per-client limit, once per window', async () => {
    const limited = await startApi({ env: { OTP_REQUESTS_PER_CLIENT: '2' } });
    try {
      const from = '127.0.0.201';
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await limited.ask(uniqueEmail(), { from })).status);
      expect(statuses).toEqual([202, 202, 429, 429, 429]);
      // Each API here has a queue store of its own, so only this one's refusals count.
      const refusals = await limited.app.deps.db.selectFrom('auth_events').select(['user_id', 'ip'])
        .where('kind', '=', 'limit_refused').where('ip', '=', from).where('challenge_id', 'is', null).execute();
      expect(refusals).toEqual([{ user_id: null, ip: from }]);
    } finally {
      await limited.close();
    }
  });

  it('stores no code, token or secret in any row of auth_events', async () => {
    expect(secrets.size).toBeGreaterThan(20);
    // Every column but the row number, which could spell a 6-digit code by chance.
    const rows = await sql<{ row: string }>`select (to_jsonb(e) - 'id')::text as row from auth_events e`.execute(api.app.deps.db);
    expect(rows.rows.length).toBeGreaterThan(0);
    const text = rows.rows.map((r) => r.row).join('\n');
    // A code counts where it stands alone: 6 digits may occur inside a UUID's hex by chance.
    const found = (value: string) => (value.length > 10 ? text.includes(value) : new RegExp(`(?<![0-9a-f])${value}(?![0-9a-f])`).test(text));
    for (const secret of secrets) {
      expect(found(secret), `a secret (${secret.length} characters) in auth_events`).toBe(false);
      const digest = createHash('sha256').update(secret).digest();
      for (const form of [digest.toString('hex'), digest.toString('base64url'), digest.toString('base64')]) expect(found(form)).toBe(false);
    }
  });
});
