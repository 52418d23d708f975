import { createLocalJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueEmail } from '@cheershare/shared/testing';
import { manualClock, startApi, type TestApi } from './harness.ts';

describe('tokens, sessions and /v1/me', () => {
  let api: TestApi;
  // Reuse detection without the grace window (sessions.test.ts covers the window itself).
  let noGrace: TestApi;
  beforeAll(async () => {
    [api, noGrace] = await Promise.all([startApi(), startApi({ env: { REFRESH_REUSE_GRACE_SECONDS: '0' } })]);
  });
  afterAll(() => Promise.all([api.close(), noGrace.close()]));

  const refresh = (token: string, on = api) => on.request('POST', '/v1/auth/refresh', { json: { refresh_token: token } });

  it('issues an ES256 access token that verifies against the published JWKS with an independent library', async () => {
    const email = uniqueEmail();
    const tokens = await api.signIn(email);
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    const jwks = await api.request('GET', '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect(JSON.stringify(jwks.body)).not.toMatch(/"d":/);
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks.body), {
      issuer: 'cheershare', audience: 'cheershare-api', algorithms: ['ES256'],
    });
    expect(protectedHeader.kid).toBe(jwks.body.keys[0].kid);
    expect(payload.sub).toBe(tokens.user.id);
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(typeof payload.sid).toBe('string');
    expect(typeof payload.jti).toBe('string');
  });

  it('issues refresh tokens of at least 256 bits and stores only their hash', async () => {
    const tokens = await api.signIn(uniqueEmail());
    expect(Buffer.from(tokens.refresh_token, 'base64url').length).toBeGreaterThanOrEqual(32);
    const rows = await api.app.deps.db.selectFrom('refresh_tokens').select('token_hash').execute();
    expect(rows.some((r) => r.token_hash.toString('base64url') === tokens.refresh_token)).toBe(false);
  });

  it('rotates refresh tokens: the new pair works, the old refresh token stops working', async () => {
    const first = await api.signIn(uniqueEmail());
    const second = await refresh(first.refresh_token);
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect((await api.request('GET', '/v1/me', { token: second.body.access_token })).status).toBe(200);
    const third = await refresh(second.body.refresh_token);
    expect(third.status).toBe(200);
  });

  it('revokes the whole session family when a rotated refresh token is presented again', async () => {
    const first = await noGrace.signIn(uniqueEmail());
    const second = (await refresh(first.refresh_token, noGrace)).body;
    const reuse = await refresh(first.refresh_token, noGrace);
    expect(reuse.status).toBe(401);
    expect(reuse.body.error.code).toBe('invalid_grant');
    // The thief's reuse also locks out the newest token and the access tokens of that session.
    expect((await refresh(second.refresh_token, noGrace)).status).toBe(401);
    expect((await noGrace.request('GET', '/v1/me', { token: second.access_token })).status).toBe(401);
  });

  it('without a grace window, lets two refreshes of one token race: exactly one wins and the session ends revoked', async () => {
    const first = await noGrace.signIn(uniqueEmail());
    const results = await Promise.all([refresh(first.refresh_token, noGrace), refresh(first.refresh_token, noGrace)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    const winner = results.find((r) => r.status === 200)!.body;
    expect((await noGrace.request('GET', '/v1/me', { token: winner.access_token })).status).toBe(401);
  });

  it('logs out: the session, its refresh token and its access token stop working; other sessions live on', async () => {
    const email = uniqueEmail();
    const a = await api.signIn(email);
    const b = await api.signIn(email);
    const out = await api.request('POST', '/v1/auth/logout', { token: a.access_token });
    expect(out.status).toBe(204);
    expect((await refresh(a.refresh_token)).status).toBe(401);
    expect((await api.request('GET', '/v1/me', { token: a.access_token })).status).toBe(401);
    expect((await api.request('GET', '/v1/me', { token: b.access_token })).status).toBe(200);
  });

  it('revokes at once an access token that was already in use, on every API process', async () => {
    const other = await startApi();
    try {
      const a = await api.signIn(uniqueEmail());
      // Both processes have verified (and may remember) the token before the logout.
      for (const p of [api, other]) expect((await p.request('GET', '/v1/me', { token: a.access_token })).status).toBe(200);
      expect((await other.request('POST', '/v1/auth/logout', { token: a.access_token })).status).toBe(204);
      for (const p of [api, other]) expect((await p.request('GET', '/v1/me', { token: a.access_token })).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('refuses an access token once it expires, also one it has verified before', async () => {
    const clock = manualClock();
    const timed = await startApi({ clock });
    try {
      const { access_token: token } = await timed.signIn(uniqueEmail());
      expect((await timed.request('GET', '/v1/me', { token })).status).toBe(200);
      clock.advance(899_000);
      expect((await timed.request('GET', '/v1/me', { token })).status).toBe(200);
      clock.advance(1_000);
      const expired = await timed.request('GET', '/v1/me', { token });
      expect(expired.status).toBe(401);
      expect(expired.body.error.code).toBe('invalid_token');
    } finally {
      await timed.close();
    }
  });

  it('requires authentication for logout and /v1/me', async () => {
    for (const [method, path] of [['POST', '/v1/auth/logout'], ['GET', '/v1/me'], ['PATCH', '/v1/me']] as const) {
      const res = await api.request(method, path);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_token');
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    }
  });

  it('reads and renames the current user', async () => {
    const email = uniqueEmail();
    const { access_token: token, user } = await api.signIn(email, 'Grace');
    const me = await api.request('GET', '/v1/me', { token });
    expect(me.body.user).toEqual(user);
    const renamed = await api.request('PATCH', '/v1/me', { token, json: { name: '  Grace Hopper ' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body.user.name).toBe('Grace Hopper');
    const cleared = await api.request('PATCH', '/v1/me', { token, json: { name: null } });
    expect(cleared.body.user.name).toBeNull();
  });

  it('publishes a kid that matches the token header', async () => {
    const tokens = await api.signIn(uniqueEmail());
    const jwks = await api.request('GET', '/.well-known/jwks.json');
    expect(decodeProtectedHeader(tokens.access_token).kid).toBe(jwks.body.keys[0].kid);
  });
});
