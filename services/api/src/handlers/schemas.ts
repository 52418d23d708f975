import { z } from 'zod';

/** Lower-cased and trimmed: one account per mailbox however it is typed. */
export const EmailSchema = z.string().trim().toLowerCase().pipe(z.email({ error: 'must be a valid email address' }).max(254))
  .meta({ format: 'email', maxLength: 254, description: 'Compared case-insensitively; stored trimmed and lower-cased.' });

/** A display name: one line of printable text. */
export const NameSchema = z.string().trim().min(1).max(100)
  .refine((s) => !/[\p{Cc}\u2028\u2029]/u.test(s), 'must not contain control characters');

/** A code from an authenticator app (RFC 6238, 6 digits). */
export const TotpCodeSchema = z.string().trim().regex(/^\d{6}$/, 'must be the 6-digit code from the authenticator app');

/** A second factor: the authenticator app's code, or one of the account's recovery codes. */
export const SecondFactorCodeSchema = z.string().trim()
  .regex(/^(\d{6}|[A-Za-z0-9]{5}[- ]?[A-Za-z0-9]{5})$/, 'must be the 6-digit code from the authenticator app or a recovery code (xxxxx-xxxxx)');
