import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, hkdfSync, randomBytes, randomInt, timingSafeEqual, type KeyObject } from 'node:crypto';

/** A uniformly random decimal code from the CSPRNG (randomInt rejects biased draws). */
export function generateOtpCode(digits = 6): string {
  return randomInt(0, 10 ** digits).toString().padStart(digits, '0');
}

// A secret given as a string is turned into key material on every use; a KeyObject made once is
// not (an AES-GCM seal costs a third as much with one). A service has a handful of secrets.
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
 * Encrypts a small secret (AES-256-GCM) in the v1 format, which names no key. `context` (e.g. the
 * challenge id) is authenticated, so a sealed value cannot be moved to another job. New code seals
 * with {@link createSecretBox}, whose values say which key sealed them; this stays for values
 * sealed before it (its boxes still open them) and for tests that need one.
 */
export function seal(secret: string, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(secret), iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

function openGcm(key: KeyObject, iv: string, body: string, tag: string, aad: string): string {
  try {
    // The full 16-byte tag: GCM would otherwise accept a truncated one, a much weaker check.
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new Error('sealed value does not authenticate (another key or context, or altered)');
  }
}

/**
 * Opens a value sealed with `secret`, by {@link seal} (v1) or by a {@link createSecretBox} whose
 * current or previous key it is (v2); throws if it was tampered with, sealed for another context
 * or with another key.
 */
export function unseal(secret: string, sealed: string, context: string): string {
  return createSecretBox(secret).open(sealed, context);
}

/** Seals with one key and opens with any key it knows, so keys can rotate. */
export interface SecretBox {
  /** The id of the key that seals: short, public, derived from the key (never the key itself). */
  kid: string;
  /** AES-256-GCM, as `v2.<kid>.<iv>.<body>.<tag>`; `context` (e.g. the row or job it belongs to) is authenticated. */
  seal(plaintext: string, context: string): string;
  /**
   * Picks the key by the value's kid; also opens v1 values (no kid) with any of the keys. Throws on
   * an unknown kid, a value tampered with or sealed for another context, or anything malformed.
   */
  open(sealed: string, context: string): string;
  /** Whether `sealed` names the key that seals now: if not, sealing it again lets the old key retire. */
  isCurrent(sealed: string): boolean;
}

interface BoxKey {
  kid: string;
  v1: KeyObject;
  v2: KeyObject;
}

const keyIds = new Map<string, string>();

function boxKey(secret: string): BoxKey {
  let kid = keyIds.get(secret);
  if (!kid) {
    kid = Buffer.from(hkdfSync('sha256', secret, 'cheershare', 'cheershare key id', 8)).toString('base64url');
    keyIds.set(secret, kid);
  }
  return { kid, v1: encryptionKey(secret), v2: keyOf(`secret-box-v2:${secret}`, () => Buffer.from(hkdfSync('sha256', secret, 'cheershare', 'secret-box-v2', 32))) };
}

// The version and key id are authenticated with the context: a value cannot be relabelled.
const aadOf = (kid: string, context: string) => `v2.${kid}.${context}`;

/**
 * A box that seals with `current` and opens values sealed with `current` or any of `previous`
 * (keys being retired). Each value names its key by a kid (64 bits of HKDF of the key), so
 * opening costs one decryption whatever the number of keys.
 */
export function createSecretBox(current: string, previous: string[] = []): SecretBox {
  const sealing = boxKey(current);
  const all = [sealing, ...previous.map(boxKey)];
  const byKid = new Map(all.map((k) => [k.kid, k]));
  return {
    kid: sealing.kid,
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', sealing.v2, iv);
      cipher.setAAD(Buffer.from(aadOf(sealing.kid, context)));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v2', sealing.kid, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    isCurrent: (sealed) => sealed.startsWith(`v2.${sealing.kid}.`),
    open(sealed, context) {
      const parts = sealed.split('.');
      if (parts[0] === 'v2' && parts.length === 5 && parts.every(Boolean)) {
        const [, kid, iv, body, tag] = parts as [string, string, string, string, string];
        const key = byKid.get(kid);
        if (!key) throw new Error(`sealed with an unknown key (kid ${kid})`);
        return openGcm(key.v2, iv, body, tag, aadOf(kid, context));
      }
      if (parts[0] === 'v1' && parts.length === 4 && parts.every(Boolean)) {
        const [, iv, body, tag] = parts as [string, string, string, string];
        // v1 names no key: try each (a wrong key fails its tag check, never opens to garbage).
        for (const key of all) {
          try {
            return openGcm(key.v1, iv, body, tag, context);
          } catch { /* the next key */ }
        }
        throw new Error('sealed value (v1) opens with none of the keys');
      }
      throw new Error('malformed sealed value');
    },
  };
}
