import { NobleCryptoPlugin, ScureBase32Plugin, TOTP } from 'otplib';

/** RFC 6238 as every authenticator app reads an otpauth:// URI: HMAC-SHA-1, 30-second steps, 6 digits. */
export const TOTP_PARAMS = { algorithm: 'sha1', digits: 6, period: 30 } as const;

// otplib 13: one TOTP object with its plugins (audited noble HMAC, scure base32); the secret,
// the time and the window are given per call.
const totp = new TOTP({ ...TOTP_PARAMS, crypto: new NobleCryptoPlugin(), base32: new ScureBase32Plugin() });

/** A new secret: 20 random bytes (160 bits, RFC 4226's recommendation), base32 as apps take it. */
export function newTotpSecret(): string {
  return totp.generateSecret();
}

/**
 * The otpauth:// URI an authenticator app scans: `otpauth://totp/<issuer>:<account>?secret=…&issuer=…`,
 * URL-encoded. otplib leaves out parameters equal to the defaults; they are spelled out, as a few
 * apps assume other ones when they are missing.
 */
export function totpUri(args: { issuer: string; account: string; secret: string }): string {
  const uri = totp.toURI({ issuer: args.issuer, label: args.account, secret: args.secret });
  return `${uri}&algorithm=SHA1&digits=${TOTP_PARAMS.digits}&period=${TOTP_PARAMS.period}`;
}

/** The RFC 6238 time step at `now`. */
export function timeStepAt(now: Date): number {
  return Math.floor(now.getTime() / 1000 / TOTP_PARAMS.period);
}

/**
 * The time step `code` belongs to at `now`, one step either side allowed for clock drift, or null.
 * Steps up to `after` (the last one accepted) are skipped: a code is good once. The caller still
 * claims the step in the database, which is what stops two processes accepting it together.
 */
export async function matchTotp(secret: string, code: string, args: { now: Date; after: number | null }): Promise<number | null> {
  const epoch = Math.floor(args.now.getTime() / 1000);
  const newest = timeStepAt(args.now) + 1;
  // otplib refuses a floor beyond the window; at or beyond it, nothing in the window is left anyway.
  if (args.after !== null && args.after >= newest) return null;
  const result = await totp.verify(code, {
    secret, epoch, epochTolerance: TOTP_PARAMS.period,
    ...(args.after !== null && { afterTimeStep: args.after }),
  });
  return result.valid ? result.timeStep : null;
}
