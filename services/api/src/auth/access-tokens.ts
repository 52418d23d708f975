import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { KeyRing } from './keys.ts';

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
}

export interface AccessClaims {
  sub: string;
  sid: string;
}

export function signAccessToken(ring: KeyRing, settings: AccessTokenSettings, claims: AccessClaims, now: Date): string {
  return jwt.sign({ sid: claims.sid, iat: Math.floor(now.getTime() / 1000) }, ring.current.privateKey, {
    algorithm: 'ES256',
    keyid: ring.current.kid,
    expiresIn: settings.accessTtlSeconds,
    issuer: settings.issuer,
    audience: settings.audience,
    subject: claims.sub,
    jwtid: randomUUID(),
  });
}

/** The claims of a token whose signature, issuer, audience and expiry check out, or null. */
function verifySignature(ring: KeyRing, settings: AccessTokenSettings, token: string, now: Date): VerifiedClaims | null {
  try {
    // Inside the try: decoding a header that says typ JWT parses the payload, which may not be JSON.
    const kid = jwt.decode(token, { complete: true })?.header.kid;
    const key = kid === undefined ? undefined : ring.verifiers.get(kid);
    if (kid === undefined || !key) return null;
    const payload = jwt.verify(token, key, {
      algorithms: ['ES256'],
      issuer: settings.issuer,
      audience: settings.audience,
      clockTimestamp: Math.floor(now.getTime() / 1000),
    });
    if (typeof payload === 'string' || typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.exp !== 'number') return null;
    return { sub: payload.sub, sid: payload.sid, kid, exp: payload.exp };
  } catch {
    return null;
  }
}

interface VerifiedClaims extends AccessClaims {
  kid: string;
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

export interface AccessTokenVerifier {
  /** The claims of a valid token, or null for anything forged, expired, or not ours. */
  verify(token: string, now: Date): AccessClaims | null;
}

/**
 * Verifies access tokens, remembering the ones that verified until they expire. An ES256
 * signature check costs about 140 µs, most of an authenticated request, and a client sends the
 * same token on every request. A remembered token is still checked for expiry and for its key
 * still being trusted; whether its session is still active is the caller's check, on every
 * request, so revocation does not wait for the cache. Only valid tokens are remembered, keyed by
 * the whole token, so a forged token never meets a cached answer.
 */
export function createAccessTokenVerifier(ring: KeyRing, settings: AccessTokenSettings, opts: { maxEntries?: number } = {}): AccessTokenVerifier {
  const maxEntries = opts.maxEntries ?? 10_000;
  const verified = new Map<string, VerifiedClaims>();
  return {
    verify(token, now) {
      const seconds = Math.floor(now.getTime() / 1000);
      const known = verified.get(token);
      if (known) {
        if (seconds < known.exp && ring.verifiers.has(known.kid)) return { sub: known.sub, sid: known.sid };
        verified.delete(token);
        return null;
      }
      const claims = verifySignature(ring, settings, token, now);
      if (!claims) return null;
      // Oldest first out: a Map iterates in insertion order.
      if (verified.size >= maxEntries) verified.delete(verified.keys().next().value!);
      verified.set(token, claims);
      return { sub: claims.sub, sid: claims.sid };
    },
  };
}
