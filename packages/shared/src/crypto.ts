import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, hkdfSync, randomBytes, randomInt, timingSafeEqual, type KeyObject } from 'node:crypto';

/** A uniformly random decimal code from the CSPRNG (randomInt rejects biased draws). */
export function generateOtpCode(digits = 6): string {
  return randomInt(0, 10 ** digits).toString().padStart(digits, '0');
}

// A secret given as a string is turned into key material on every use; a KeyObject made once is
// not (an AES-GCM seal costs a third as much with one). A service has one or two secrets.
const keyObjects = new Map<string, KeyObject>();

function keyOf(id: string, make: () => Buffer): KeyObject {
  let key = keyObjects.get(id);
  if (!key) {
    key = createSecretKey(make());
    keyObjects.set(id, key);
  }
  return key;
}

/** Keyed hash of a one-time code, bound to its challenge so equal codes never share a hash. */
export function hashOtpCode(secret: string, challengeId: string, code: string): Buffer {
  return createHmac('sha256', keyOf(`hmac:${secret}`, () => Buffer.from(secret))).update(`${challengeId}:${code}`).digest();
}

/** Constant-time comparison of two digests of equal length. */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A high-entropy opaque token (256 bits), URL-safe. */
export function generateOpaqueToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Opaque tokens carry 256 bits of entropy, so a plain SHA-256 is a safe at-rest form. */
export function hashOpaqueToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function encryptionKey(secret: string): KeyObject {
  return keyOf(`job-payload-v1:${secret}`, () => Buffer.from(hkdfSync('sha256', secret, 'cheershare', 'job-payload-v1', 32)));
}

/**
 * Encrypts a small secret for a job payload (AES-256-GCM). `context` (e.g. the challenge id) is
 * authenticated, so a sealed value cannot be moved to another job.
 */
export function seal(secret: string, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(secret), iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** Reverses {@link seal}; throws if the value was tampered with, sealed for another context or another key. */
export function unseal(secret: string, sealed: string, context: string): string {
  const [version, iv, body, tag] = sealed.split('.');
  if (version !== 'v1' || !iv || !body || !tag) throw new Error('malformed sealed value');
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey(secret), Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}
