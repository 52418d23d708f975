import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * The keys this API signs with and accepts. One current key today; `verifiers` leaves room for
 * rotation (old public keys stay published and accepted until their tokens have expired).
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

export function loadKeyRing(privateKeyPem: string): KeyRing {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('JWT_PRIVATE_KEY must be an EC P-256 private key (ES256)');
  }
  const publicKey = createPublicKey(privateKey);
  const kid = thumbprint(publicKey.export({ format: 'jwk' }));
  return { current: { kid, privateKey, publicKey }, verifiers: new Map([[kid, publicKey]]) };
}

/** The public half of the ring as a JWK Set, for `/.well-known/jwks.json`. */
export function publicJwks(ring: KeyRing): { keys: JsonWebKey[] } {
  return {
    keys: [...ring.verifiers].map(([kid, key]) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' })),
  };
}
