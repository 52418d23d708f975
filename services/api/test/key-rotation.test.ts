import { createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { uniqueEmail } from '@cheershare/shared/testing';
import { createAccessTokenVerifier } from '../src/auth/access-tokens.ts';
import { loadKeyRing } from '../src/auth/keys.ts';
import { manualClock, startApi, type TestApi } from './harness.ts';

// The signing-key rotation the README describes, on real API instances built from config and
// sharing one database, as replicas do. Each step starts a replica with the next configuration
// while one with the previous configuration still serves (a rolling restart), and every token
// issued before a step keeps working, on both, until it expires.
const TTL = 60; // ACCESS_TOKEN_TTL_SECONDS' minimum
const ISSUER = { issuer: 'cheershare', audience: 'cheershare-api', algorithms: ['ES256'] };

interface Key {
  pem: string;
  publicPem: string;
  privateKey: KeyObject;
  kid: string;
}
async function newKey(): Promise<Key> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    // Computed independently of the API: RFC 7638, by jose.
    kid: await calculateJwkThumbprint(publicKey.export({ format: 'jwk' })),
  };
}

describe('rotating the JWT signing key with no downtime', async () => {
  const [oldKey, newKeyPair] = await Promise.all([newKey(), newKey()]);
  const clock = manualClock();
  const t0 = clock.now().getTime();
  const at = (seconds: number) => clock.set(new Date(t0 + seconds * 1000));
  const running: TestApi[] = [];
  const replica = async (env: Record<string, string>) => {
    const api = await startApi({ clock, env: { ACCESS_TOKEN_TTL_SECONDS: String(TTL), ...env } });
    running.push(api);
    return api;
  };
  const stop = async (api: TestApi) => {
    running.splice(running.indexOf(api), 1);
    await api.close();
  };
  afterAll(() => Promise.all(running.map((api) => api.close())));

  const me = async (api: TestApi, token: string) => (await api.request('GET', '/v1/me', { token })).status;
  const jwksOf = async (api: TestApi) => (await api.request('GET', '/.well-known/jwks.json')).body as JSONWebKeySet & { keys: { kid: string }[] };
  const kids = async (api: TestApi) => (await jwksOf(api)).keys.map((k) => k.kid);
  /** Verifies as a resource server with its own copy of the JWK Set would, at the API's time. */
  const verifyWith = (jwks: JSONWebKeySet, token: string) => jwtVerify(token, createLocalJWKSet(jwks), { ...ISSUER, currentDate: clock.now() });

  // Shared by the steps, in order.
  let before: TestApi;
  let s1: TestApi;
  let s2: TestApi;
  let signedIn0: { access_token: string; refresh_token: string };
  let token1: string;
  let token2: string;
  let jwks0: JSONWebKeySet;
  let jwks1: JSONWebKeySet;

  it('before: one key signs and is the only one published, with cache headers and an ETag', async () => {
    at(0);
    before = await replica({ JWT_PRIVATE_KEY: oldKey.pem });
    signedIn0 = await before.signIn(uniqueEmail());
    expect(decodeProtectedHeader(signedIn0.access_token).kid).toBe(oldKey.kid);
    jwks0 = await jwksOf(before);
    expect(await kids(before)).toEqual([oldKey.kid]);

    const res = await before.request('GET', '/.well-known/jwks.json');
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await before.request('GET', '/.well-known/jwks.json', { headers: { 'if-none-match': `"other", W/${etag}` } });
    expect(again.status).toBe(304);
    expect(again.body).toBeUndefined();
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.headers.get('cache-control')).toBe('public, max-age=300');
    expect((await before.request('GET', '/.well-known/jwks.json', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
  });

  it('step 1: the new key is published and accepted, the old one still signs', async () => {
    at(10);
    s1 = await replica({ JWT_PRIVATE_KEY: oldKey.pem, JWT_VERIFY_KEYS: newKeyPair.publicPem });
    expect(await kids(s1)).toEqual([oldKey.kid, newKeyPair.kid]);
    const etag0 = (await before.request('GET', '/.well-known/jwks.json')).headers.get('etag');
    expect((await s1.request('GET', '/.well-known/jwks.json', { headers: { 'if-none-match': etag0! } })).status).toBe(200);
    jwks1 = await jwksOf(s1);

    token1 = (await s1.signIn(uniqueEmail())).access_token;
    expect(decodeProtectedHeader(token1).kid).toBe(oldKey.kid);
    // Mid-rollout, each replica accepts what the other issued.
    expect(await me(s1, signedIn0.access_token)).toBe(200);
    expect(await me(before, token1)).toBe(200);
    await stop(before);
  });

  it('step 2: the new key signs, the old one is only published and accepted', async () => {
    at(20);
    // The old private key moved as it was, "\n"-escaped as in a .env file (its public half would do).
    s2 = await replica({ JWT_PRIVATE_KEY: newKeyPair.pem, JWT_VERIFY_KEYS: oldKey.pem.replace(/\n/g, '\\n') });
    expect(await kids(s2)).toEqual([newKeyPair.kid, oldKey.kid]);

    token2 = (await s2.signIn(uniqueEmail())).access_token;
    expect(decodeProtectedHeader(token2).kid).toBe(newKeyPair.kid);
    for (const token of [signedIn0.access_token, token1, token2]) {
      expect(await me(s2, token)).toBe(200);
      // The replica still at step 1 accepts the new key's tokens: that is what step 1 was for.
      expect(await me(s1, token)).toBe(200);
    }
    // So does a resource server still holding the set it fetched during step 1, but not one
    // holding a set from before step 1: hence waiting out the JWKS max-age before promoting.
    await expect(verifyWith(jwks1, token2)).resolves.toMatchObject({ protectedHeader: { kid: newKeyPair.kid } });
    await expect(verifyWith(jwks0, token2)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    await stop(s1);
  });

  it('between steps 2 and 3: the old key\'s tokens work until they expire, then the server refuses them', async () => {
    at(TTL - 1);
    expect(await me(s2, signedIn0.access_token)).toBe(200);
    at(TTL);
    expect(await me(s2, signedIn0.access_token)).toBe(401);
    at(10 + TTL - 1);
    expect(await me(s2, token1)).toBe(200);
    await expect(verifyWith(await jwksOf(s2), token1)).resolves.toBeDefined();
    at(10 + TTL);
    expect(await me(s2, token1)).toBe(401);
    await expect(verifyWith(await jwksOf(s2), token1)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('step 3: the old key is gone; tokens it signs are refused, the new key\'s keep working, refresh tokens are unaffected', async () => {
    at(10 + TTL + 1);
    const s3 = await replica({ JWT_PRIVATE_KEY: newKeyPair.pem });
    expect(await kids(s3)).toEqual([newKeyPair.kid]);
    expect(await me(s3, token2)).toBe(200);
    // Verified the way an external resource server does: fetching the set over HTTP.
    const remote = createRemoteJWKSet(new URL(`${s3.base}/.well-known/jwks.json`));
    await expect(jwtVerify(token2, remote, { ...ISSUER, currentDate: clock.now() })).resolves.toMatchObject({ payload: { sub: decodeJwt(token2).sub } });

    // A token the old key signs now, for a live session, with every claim right: step 2's replica
    // takes it (and remembers it as verified); the replica without the key refuses it.
    const { sub, sid } = decodeJwt(token2) as { sub: string; sid: string };
    const nowSeconds = Math.floor(clock.now().getTime() / 1000);
    const byOldKey = await new SignJWT({ sid }).setProtectedHeader({ alg: 'ES256', kid: oldKey.kid })
      .setSubject(sub).setIssuer('cheershare').setAudience('cheershare-api').setIssuedAt(nowSeconds).setExpirationTime(nowSeconds + TTL).setJti(randomUUID())
      .sign(oldKey.privateKey);
    expect(await me(s2, byOldKey)).toBe(200);
    const refused = await s3.request('GET', '/v1/me', { token: byOldKey });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_token');
    await expect(jwtVerify(byOldKey, remote, { ...ISSUER, currentDate: clock.now() })).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });

    // Refresh tokens are opaque, not signed: the one from before step 1 still refreshes, and the
    // new access token is the new key's.
    const refreshed = await s3.request('POST', '/v1/auth/refresh', { json: { refresh_token: signedIn0.refresh_token } });
    expect(refreshed.status).toBe(200);
    expect(decodeProtectedHeader(refreshed.body.access_token).kid).toBe(newKeyPair.kid);
    expect(await me(s3, refreshed.body.access_token)).toBe(200);
    await stop(s2);
  });
});

describe('the verified-token cache', () => {
  it('stops accepting a remembered token once its key is no longer trusted', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const ring = loadKeyRing(b.pem, [a.publicPem]);
    const verifier = createAccessTokenVerifier(ring, { issuer: 'cheershare', audience: 'cheershare-api', accessTtlSeconds: TTL });
    const now = new Date();
    const token = await new SignJWT({ sid: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: a.kid })
      .setSubject(randomUUID()).setIssuer('cheershare').setAudience('cheershare-api').setIssuedAt(now).setExpirationTime('60s').sign(a.privateKey);
    expect(verifier.verify(token, now)).not.toBeNull();
    expect(verifier.verify(token, now)).not.toBeNull();
    ring.verifiers.delete(a.kid);
    expect(verifier.verify(token, now)).toBeNull();
  });
});
