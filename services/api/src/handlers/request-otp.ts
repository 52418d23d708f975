import type { RequestHandler } from 'express';
import { z } from 'zod';
import { jobIds, seal } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { createChallenge, discardChallenge } from '../auth/challenges.ts';
import { EmailSchema, NameSchema } from './schemas.ts';

export const RequestOtpSchema = z.object({ email: EmailSchema, name: NameSchema.optional() }).meta({ id: 'RequestOtp' });
export const OtpRequestedSchema = z.object({
  expires_in: z.int().meta({ description: 'Seconds the code lives.' }),
  resend_after: z.int().meta({ description: 'Seconds before another code may be asked for.' }),
}).meta({ id: 'OtpRequested' });

const REFUSALS = {
  resend_too_soon: 'A code was sent to this address moments ago.',
  too_many_codes: 'Too many codes were sent to this address in the last hour.',
  too_many_failures: 'Too many wrong codes were entered for this address today.',
};

/**
 * POST /v1/auth/otp: issue a code and queue its email. The answer is the same whether or not an
 * account exists; it is sent only once the job is durably in the queue.
 */
export function handleRequestOtp({ db, emailQueue, config, clock, metrics }: Pick<Deps, 'db' | 'emailQueue' | 'config' | 'clock' | 'metrics'>): RequestHandler {
  const { ttlSeconds, resendSeconds, maxPerHour, maxFailedPerDay } = config.otp;
  const limits = { resendSeconds, maxPerHour, maxFailedPerDay };
  return async (req, res) => {
    const { email, name } = RequestOtpSchema.parse(req.body);
    const result = await createChallenge(db, { email, name: name ?? null, secret: config.otpHashSecret, ttlSeconds, limits, now: clock.now() });
    if (!result.ok) {
      const retry = result.retryAfterSeconds;
      metrics.codes.inc({ event: 'refused', reason: result.reason });
      throw new HttpError(429, result.reason, `${REFUSALS[result.reason]} Ask again in ${retry} s.`, { 'Retry-After': String(retry) });
    }
    const job = { challengeId: result.challengeId, sealedCode: seal(config.jobEncryptionKey, result.code, result.challengeId) };
    try {
      await emailQueue.add('otp', job, { jobId: jobIds.otpEmail(result.challengeId) });
    } catch (err) {
      // Not queued means not sent: undo the challenge so the previous code stays the live one.
      await discardChallenge(db, result.challengeId).catch(() => {});
      throw err;
    }
    metrics.codes.inc({ event: 'requested', reason: '' });
    res.status(202).json({ expires_in: ttlSeconds, resend_after: resendSeconds });
  };
}
