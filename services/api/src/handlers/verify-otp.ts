import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { consumeChallenge } from '../auth/challenges.ts';
import { createSession } from '../auth/sessions.ts';
import { findOrCreateUser } from '../users.ts';
import { EmailSchema } from './schemas.ts';
import { tokenResponse } from './token-response.ts';

export const VerifyOtpSchema = z.object({
  email: EmailSchema,
  code: z.string().trim().regex(/^\d{6}$/, 'must be the 6-digit code from the email'),
}).meta({ id: 'VerifyOtp' });

/**
 * POST /v1/auth/verify: trade a code for tokens. The first success for an email creates its
 * user (sign-up and sign-in are one step).
 */
export function handleVerifyOtp(deps: Pick<Deps, 'db' | 'config' | 'clock' | 'keys' | 'metrics'>): RequestHandler {
  const { db, config, clock, metrics } = deps;
  return async (req, res) => {
    const { email, code } = VerifyOtpSchema.parse(req.body);
    const now = clock.now();
    const outcome = await db.transaction().execute(async (trx) => {
      const consumed = await consumeChallenge(trx, { email, code, secret: config.otpHashSecret, maxAttempts: config.otp.maxAttempts, now });
      if (!consumed.ok) return null;
      const user = await findOrCreateUser(trx, email, consumed.challenge.name);
      const session = await createSession(trx, { userId: user.id, ttlSeconds: config.refreshTtlSeconds, now });
      return { user, session };
    });
    // Thrown after commit so a wrong attempt is counted.
    metrics.codes.inc({ event: outcome ? 'verified' : 'failed', reason: '' });
    if (!outcome) throw new HttpError(401, 'invalid_code', 'The code is wrong, expired or already used. Ask for a new one.');
    res.json(tokenResponse(deps, { user: outcome.user, sessionId: outcome.session.sessionId, refreshToken: outcome.session.refreshToken, now }));
  };
}
