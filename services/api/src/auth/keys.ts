import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * The keys this API signs with and accepts: `current` signs; `verifiers` holds its public key and
 * the extra verify-only keys (one about to sign, or retired ones whose tokens have not expired),
 * all published in the JWKS. Fixed for the life of the process: rotating means restarting with
 * another JWT_PRIVATE_KEY / JWT_VERIFY_KEYS.
 */
export interface KeyRing {
  current: SigningKey;
  verifiers: Map<string, KeyObject>;
}

/** RFC 7638 thumbprint: a stable key id derived from the public key itself. */
function thumbprint(jwk: JsonWebKey): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

const isP256 = (key: KeyObject) => key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';

/** `verifyKeyPems`: public (or private) PEM keys that verify and are published, never sign. */
export function loadKeyRing(privateKeyPem: string, verifyKeyPems: readonly string[] = []): KeyRing {
  const privateKey = createPrivateKey(privateKeyPem);
  if (!isP256(privateKey)) throw new Error('JWT_PRIVATE_KEY must be an EC P-256 private key (ES256)');
  const publicKey = createPublicKey(privateKey);
  const kid = thumbprint(publicKey.export({ format: 'jwk' }));
  // The signing key first: the JWKS lists it first, and a verify key equal to it adds nothing.
  const verifiers = new Map([[kid, publicKey]]);
  for (const pem of verifyKeyPems) {
    const key = createPublicKey(pem);
    if (!isP256(key)) throw new Error('JWT_VERIFY_KEYS must hold EC P-256 keys (ES256)');
    const id = thumbprint(key.export({ format: 'jwk' }));
    if (!verifiers.has(id)) verifiers.set(id, key);
  }
  return { current: { kid, privateKey, publicKey }, verifiers };
}

/** The public half of the ring as a JWK Set, for `/.well-known/jwks.json`. */
export function publicJwks(ring: KeyRing): { keys: JsonWebKey[] } {
  return {
    keys: [...ring.verifiers].map(([kid, key]) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' })),
  };
}
