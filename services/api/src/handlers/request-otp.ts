import type { RequestHandler } from 'express';
import { z } from 'zod';
import { jobIds } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { discardChallenge, issueChallenge } from '../auth/challenges.ts';
import { requestOrigin } from '../auth/events.ts';
import { clientOf, spend } from '../limits/rate-limit.ts';
import { EmailSchema, NameSchema } from './schemas.ts';

export const RequestOtpSchema = z.object({ email: EmailSchema, name: NameSchema.optional() }).meta({ id: 'RequestOtp' });
export const OtpRequestedSchema = z.object({
  challenge_id: z.uuid().meta({ description: 'Send it back with the code to /v1/auth/verify; only its holder can use the code.' }),
  expires_in: z.int().meta({ description: 'Seconds the code lives.' }),
  resend_after: z.int().meta({ description: 'Seconds before another code may be asked for.' }),
}).meta({ id: 'OtpRequested' });

const EMAIL_BUDGET = { code: 'too_many_emails', message: 'Too many sign-in emails are being sent right now.' };

/**
 * POST /v1/auth/otp: issue a challenge and queue its email. The answer, and the work behind it,
 * are the same whatever the address: known or not, recently used or never seen, within its
 * mailbox limits or over them (then the job is queued but the mailer sends nothing). It is sent
 * only once the job is durably in the queue. Per-client limits (limitPerClient) come first.
 */
export function handleRequestOtp({ db, emailQueue, jobSeal, config, clock, metrics, limits }: Pick<Deps, 'db' | 'emailQueue' | 'jobSeal' | 'config' | 'clock' | 'metrics' | 'limits'>): RequestHandler {
  const { ttlSeconds, resendSeconds, maxPerClientHour, maxPerMailboxHour, longCodesAfterFailures } = config.otp;
  const issueLimits = { resendSeconds, maxPerClientHour, maxPerMailboxHour, longCodesAfterFailures };
  return async (req, res) => {
    const { email, name } = RequestOtpSchema.parse(req.body);
    await spend(res, limits.emails, 'all', EMAIL_BUDGET);
    const now = clock.now();
    const challenge = await issueChallenge(db, {
      email, clientKey: clientOf(req), name: name ?? null, secret: config.otpHashSecret, ttlSeconds, limits: issueLimits, now, origin: requestOrigin(req),
    });
    const job = { challengeId: challenge.challengeId, sealedCode: jobSeal.seal(challenge.code, challenge.challengeId) };
    try {
      await emailQueue.add('otp', job, { jobId: jobIds.otpEmail(challenge.challengeId) });
    } catch (err) {
      // Not queued means not sent: undo the challenge so it counts against no limit.
      await discardChallenge(db, challenge.challengeId, now).catch(() => {});
      throw err;
    }
    if (challenge.sent) metrics.codes.inc({ event: 'requested', reason: challenge.code.length === 10 ? 'long_code' : '' });
    else metrics.codes.inc({ event: 'suppressed', reason: '' });
    res.status(202).json({ challenge_id: challenge.challengeId, expires_in: ttlSeconds, resend_after: resendSeconds });
  };
}
