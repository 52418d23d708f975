import { randomInt } from 'node:crypto';
import { hashOtpCode } from '@cheershare/shared';

/** How many a confirmation hands out; confirming again replaces them all. */
export const RECOVERY_CODE_COUNT = 10;

// No 0/o, 1/i/l: nothing to confuse when copied by hand. 31 symbols, 10 of them: about 49.5 bits,
// and every guess needs a live mfa_token (so an email code) or a session, within the MFA limits.
const ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';
const LENGTH = 10;

/**
 * Fresh codes from the CSPRNG for `userId`: as shown once to the user (`xxxxx-xxxxx`), and the
 * hashes stored in their place.
 */
export function newRecoveryCodes(secret: string, userId: string): { codes: string[]; hashes: Buffer[] } {
  const raw = Array.from({ length: RECOVERY_CODE_COUNT }, () => Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join(''));
  return { codes: raw.map((c) => `${c.slice(0, 5)}-${c.slice(5)}`), hashes: raw.map((c) => hashRecoveryCode(secret, userId, c)) };
}

/** The code as stored: lower case, no separator; null if it cannot be one of ours. */
export function normaliseRecoveryCode(input: string): string | null {
  const code = input.toLowerCase().replace(/[- ]/g, '');
  return code.length === LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : null;
}

/**
 * The stored form of a normalised code: HMAC-SHA256 keyed with OTP_HASH_SECRET and bound to the
 * user, so a leaked table gives nothing to try offline and equal codes never share a hash.
 */
export function hashRecoveryCode(secret: string, userId: string, code: string): Buffer {
  return hashOtpCode(secret, `recovery:${userId}`, code);
}
