import { z } from 'zod';

/** Lower-cased and trimmed: one account per mailbox however it is typed. */
export const EmailSchema = z.string().trim().toLowerCase().pipe(z.email({ error: 'must be a valid email address' }).max(254))
  .meta({ format: 'email', maxLength: 254, description: 'Compared case-insensitively; stored trimmed and lower-cased.' });

/** A display name: one line of printable text. */
export const NameSchema = z.string().trim().min(1).max(100)
  .refine((s) => !/[\p{Cc}\u2028\u2029]/u.test(s), 'must not contain control characters');
