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

/** Returns the claims of a valid token, or null for anything forged, expired, or not ours. */
export function verifyAccessToken(ring: KeyRing, settings: AccessTokenSettings, token: string, now: Date): AccessClaims | null {
  const header = jwt.decode(token, { complete: true })?.header;
  const key = header?.kid === undefined ? undefined : ring.verifiers.get(header.kid);
  if (!key) return null;
  try {
    const payload = jwt.verify(token, key, {
      algorithms: ['ES256'],
      issuer: settings.issuer,
      audience: settings.audience,
      clockTimestamp: Math.floor(now.getTime() / 1000),
    });
    if (typeof payload === 'string' || typeof payload.sub !== 'string' || typeof payload.sid !== 'string') return null;
    return { sub: payload.sub, sid: payload.sid };
  } catch {
    return null;
  }
}
