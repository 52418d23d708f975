import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueEmail } from '@cheershare/shared/testing';
import { manualClock, startApi, type Reply, type TestApi } from './harness.ts';

interface Tokens {
  access_token: string;
  refresh_token: string;
  user: { id: string };
}

/** Signs in from a client address of its own, with a user agent of its own. */
async function signInAs(api: TestApi, email: string, client: { from: string; userAgent: string }): Promise<Tokens> {
  const asked = await api.ask(email, { from: client.from });
  expect(asked.status).toBe(202);
  const code = await api.codeFor(asked.challengeId);
  const verified = await api.request('POST', '/v1/auth/verify', {
    json: { challenge_id: asked.challengeId, code }, from: client.from, headers: { 'user-agent': client.userAgent },
  });
  expect(verified.status).toBe(200);
  return verified.body as Tokens;
}

const me = (api: TestApi, token: string) => api.request('GET', '/v1/me', { token });
const refresh = (api: TestApi, token: string) => api.request('POST', '/v1/auth/refresh', { json: { refresh_token: token } });
const sessionsOf = async (api: TestApi, token: string) => {
  const res = await api.request('GET', '/v1/me/sessions', { token });
  expect(res.status).toBe(200);
  return res.body.sessions as { id: string; created_at: string; last_used_at: string; user_agent: string | null; ip: string | null; current: boolean }[];
};
const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid;
const expectNotFound = (res: Reply) => {
  expect(res.status).toBe(404);
  expect(res.body.error.code).toBe('not_found');
};

describe('sessions: list, end one, end all', () => {
  let api: TestApi;
  let other: TestApi;
  const laptop = { from: '127.0.0.2', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' };
  const phone = { from: '127.0.0.3', userAgent: 'cheershare-ios/2.1 (iPhone; iOS 19.0)' };
  beforeAll(async () => {
    // Two API processes on one database, as behind a load balancer.
    [api, other] = await Promise.all([startApi(), startApi()]);
  });
  afterAll(() => Promise.all([api.close(), other.close()]));

  it('lists the caller\'s active sessions from two addresses, with their user agents and which one is the caller\'s', async () => {
    const email = uniqueEmail();
    const a = await signInAs(api, email, laptop);
    const b = await signInAs(api, email, phone);
    const stranger = await signInAs(api, uniqueEmail(), laptop);
    const ended = await signInAs(api, email, laptop);
    expect((await api.request('POST', '/v1/auth/logout', { token: ended.access_token })).status).toBe(204);

    const listed = await sessionsOf(api, a.access_token);
    expect(listed.map((s) => s.id).sort()).toEqual([sidOf(a.access_token), sidOf(b.access_token)].sort());
    const byId = new Map(listed.map((s) => [s.id, s]));
    expect(byId.get(sidOf(a.access_token))).toMatchObject({ ip: '127.0.0.2', user_agent: laptop.userAgent, current: true });
    expect(byId.get(sidOf(b.access_token))).toMatchObject({ ip: '127.0.0.3', user_agent: phone.userAgent, current: false });
    for (const s of listed) expect(Date.parse(s.last_used_at)).toBeGreaterThanOrEqual(Date.parse(s.created_at));
    // From the other session, the other one is current; the stranger sees only their own.
    expect((await sessionsOf(api, b.access_token)).find((s) => s.current)?.id).toBe(sidOf(b.access_token));
    expect((await sessionsOf(api, stranger.access_token)).map((s) => s.id)).toEqual([sidOf(stranger.access_token)]);
  });

  it('keeps a user agent as one trimmed line of at most 256 characters', async () => {
    const email = uniqueEmail();
    const { access_token: token } = await signInAs(api, email, { from: '127.0.0.4', userAgent: `\t Agent\t1.0 ${'x'.repeat(400)}  ` });
    const [session] = await sessionsOf(api, token);
    expect(session!.user_agent).toBe(`Agent1.0 ${'x'.repeat(247)}`);
    expect(session!.user_agent).toHaveLength(256);
  });

  it('orders sessions by last use, which requests update at most once a minute', async () => {
    const clock = manualClock();
    const timed = await startApi({ clock });
    try {
      const email = uniqueEmail();
      const a = await signInAs(timed, email, laptop);
      const signedInAt = clock.now().toISOString();
      clock.advance(1_000);
      const b = await signInAs(timed, email, phone);
      expect((await sessionsOf(timed, a.access_token)).map((s) => s.id)).toEqual([sidOf(b.access_token), sidOf(a.access_token)]);

      clock.advance(30_000);
      expect((await me(timed, a.access_token)).status).toBe(200);
      const early = (await sessionsOf(timed, a.access_token)).find((s) => s.current)!;
      expect(early.last_used_at).toBe(signedInAt);

      clock.advance(30_000);
      expect((await me(timed, a.access_token)).status).toBe(200);
      // Listed by the session just used (listing is a use too, and would touch the other one).
      const listed = await sessionsOf(timed, a.access_token);
      expect(listed.map((s) => s.id)).toEqual([sidOf(a.access_token), sidOf(b.access_token)]);
      expect(listed[0]!.last_used_at).toBe(clock.now().toISOString());
      expect(listed[0]!.created_at).toBe(signedInAt);

      // A refresh is a use too.
      clock.advance(5_000);
      const rotated = await refresh(timed, b.refresh_token);
      expect(rotated.status).toBe(200);
      const after = await sessionsOf(timed, rotated.body.access_token);
      expect(after[0]).toMatchObject({ id: sidOf(b.access_token), last_used_at: clock.now().toISOString(), current: true });
    } finally {
      await timed.close();
    }
  });

  it('records the client address as TRUST_PROXY resolves it', async () => {
    const proxied = await startApi({ env: { TRUST_PROXY: 'loopback' } });
    try {
      const email = uniqueEmail();
      const asked = await proxied.ask(email);
      const verified = await proxied.request('POST', '/v1/auth/verify', {
        json: { challenge_id: asked.challengeId, code: await proxied.codeFor(asked.challengeId) }, headers: { 'x-forwarded-for': '203.0.113.7' },
      });
      expect(verified.status).toBe(200);
      expect((await sessionsOf(proxied, verified.body.access_token))[0]!.ip).toBe('203.0.113.7');
    } finally {
      await proxied.close();
    }
  });

  it('ends one session: its access token is refused at once on every API process, its refresh token no longer works', async () => {
    const email = uniqueEmail();
    const a = await signInAs(api, email, laptop);
    const b = await signInAs(api, email, phone);
    // Both processes have verified (and may remember) the token before it is revoked.
    for (const p of [api, other]) expect((await me(p, a.access_token)).status).toBe(200);

    expect((await other.request('DELETE', `/v1/me/sessions/${sidOf(a.access_token)}`, { token: b.access_token })).status).toBe(204);
    for (const p of [api, other]) {
      const refused = await me(p, a.access_token);
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('invalid_token');
    }
    const stale = await refresh(api, a.refresh_token);
    expect(stale.status).toBe(401);
    expect(stale.body.error.code).toBe('invalid_grant');
    expect((await me(api, b.access_token)).status).toBe(200);
    expect((await sessionsOf(api, b.access_token)).map((s) => s.id)).toEqual([sidOf(b.access_token)]);
    // Once ended, it is not there to end again.
    expectNotFound(await api.request('DELETE', `/v1/me/sessions/${sidOf(a.access_token)}`, { token: b.access_token }));

    // Ending the caller's own session is a logout.
    expect((await api.request('DELETE', `/v1/me/sessions/${sidOf(b.access_token)}`, { token: b.access_token })).status).toBe(204);
    expect((await me(api, b.access_token)).status).toBe(401);
  });

  it('answers 404 for someone else\'s session, an unknown id and a malformed one, and ends nothing', async () => {
    const victim = await signInAs(api, uniqueEmail(), laptop);
    const attacker = await signInAs(api, uniqueEmail(), phone);
    for (const id of [sidOf(victim.access_token), crypto.randomUUID(), 'not-a-uuid', '1%20or%201=1']) {
      expectNotFound(await api.request('DELETE', `/v1/me/sessions/${id}`, { token: attacker.access_token }));
    }
    expect((await me(api, victim.access_token)).status).toBe(200);
    expect((await refresh(api, victim.refresh_token)).status).toBe(200);
    expect((await me(api, attacker.access_token)).status).toBe(200);
    expect((await api.request('DELETE', `/v1/me/sessions/${sidOf(victim.access_token)}`)).status).toBe(401);
  });

  it('logs out everywhere but here with keep_current, then everywhere', async () => {
    const email = uniqueEmail();
    const [a, b, c] = [await signInAs(api, email, laptop), await signInAs(api, email, phone), await signInAs(api, email, laptop)];
    const bystander = await signInAs(api, uniqueEmail(), laptop);

    const kept = await other.request('POST', '/v1/auth/logout-all', { token: a.access_token, json: { keep_current: true } });
    expect(kept.status).toBe(204);
    for (const s of [b, c]) {
      expect((await me(api, s.access_token)).status).toBe(401);
      expect((await refresh(api, s.refresh_token)).status).toBe(401);
    }
    expect((await me(api, a.access_token)).status).toBe(200);
    expect((await sessionsOf(api, a.access_token)).map((s) => s.id)).toEqual([sidOf(a.access_token)]);

    // No body: every session, this one too.
    expect((await api.request('POST', '/v1/auth/logout-all', { token: a.access_token })).status).toBe(204);
    expect((await me(api, a.access_token)).status).toBe(401);
    expect((await refresh(api, a.refresh_token)).status).toBe(401);
    expect((await me(api, bystander.access_token)).status).toBe(200);
  });

  it('refuses a logout-all body that is not JSON or not valid, and ends nothing', async () => {
    const { access_token: token } = await signInAs(api, uniqueEmail(), laptop);
    const invalid = await api.request('POST', '/v1/auth/logout-all', { token, json: { keep_current: 'yes' } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details[0].path).toBe('keep_current');
    const text = await api.request('POST', '/v1/auth/logout-all', { token, body: 'keep_current=true', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(text.status).toBe(415);
    expect((await me(api, token)).status).toBe(200);
    expect((await api.request('POST', '/v1/auth/logout-all')).status).toBe(401);
  });
});

describe('refresh from two tabs at once: the grace window', () => {
  let api: TestApi;
  let other: TestApi;
  beforeAll(async () => {
    [api, other] = await Promise.all([startApi(), startApi()]);
  });
  afterAll(() => Promise.all([api.close(), other.close()]));

  it('gives concurrent refreshes of one token the same new refresh token, and the session lives on', async () => {
    const first = await api.signIn(uniqueEmail());
    // Three tabs, two of them on another API process.
    const results = await Promise.all([refresh(api, first.refresh_token), refresh(other, first.refresh_token), refresh(other, first.refresh_token)]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const tokens = new Set(results.map((r) => r.body.refresh_token as string));
    expect(tokens.size).toBe(1);
    expect(tokens.has(first.refresh_token)).toBe(false);
    for (const r of results) {
      expect(sidOf(r.body.access_token)).toBe(sidOf(first.access_token));
      expect((await me(api, r.body.access_token)).status).toBe(200);
    }
    // The shared successor is a working refresh token, and only one session exists.
    const next = await refresh(api, results[0].body.refresh_token);
    expect(next.status).toBe(200);
    expect((await me(api, next.body.access_token)).status).toBe(200);
    expect((await sessionsOf(api, next.body.access_token)).map((s) => s.id)).toEqual([sidOf(first.access_token)]);
  });

  it('within the window, refuses a token whose successor was already used, and revokes the session', async () => {
    const first = await api.signIn(uniqueEmail());
    const second = await refresh(api, first.refresh_token);
    const third = await refresh(api, second.body.refresh_token);
    expect(third.status).toBe(200);
    const stale = await refresh(api, first.refresh_token);
    expect(stale.status).toBe(401);
    expect(stale.body.error.code).toBe('invalid_grant');
    expect((await refresh(api, third.body.refresh_token)).status).toBe(401);
    expect((await me(api, third.body.access_token)).status).toBe(401);
  });

  it('answers a repeat with the same pair until REFRESH_REUSE_GRACE_SECONDS have passed; after that reuse revokes the family', async () => {
    const clock = manualClock();
    const timed = await startApi({ clock, env: { REFRESH_REUSE_GRACE_SECONDS: '3' } });
    try {
      const first = await timed.signIn(uniqueEmail());
      const second = await refresh(timed, first.refresh_token);
      expect(second.status).toBe(200);
      clock.advance(2_999);
      const repeat = await refresh(timed, first.refresh_token);
      expect(repeat.status).toBe(200);
      expect(repeat.body.refresh_token).toBe(second.body.refresh_token);
      expect((await me(timed, repeat.body.access_token)).status).toBe(200);
      // The owner's activity shows the repeat for what it is: a second tab, or someone else holding the token.
      const kinds = (await timed.request('GET', '/v1/me/activity', { token: repeat.body.access_token })).body.events.map((e: { kind: string }) => e.kind);
      expect(kinds.slice(0, 2)).toEqual(['refresh_repeated', 'refreshed']);

      clock.advance(1);
      const reuse = await refresh(timed, first.refresh_token);
      expect(reuse.status).toBe(401);
      expect(reuse.body.error.code).toBe('invalid_grant');
      expect((await refresh(timed, second.body.refresh_token)).status).toBe(401);
      for (const token of [second.body.access_token, repeat.body.access_token]) expect((await me(timed, token)).status).toBe(401);
    } finally {
      await timed.close();
    }
  });
});
