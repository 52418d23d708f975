import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { signInWithCode } from '../auth/challenges.ts';
import { newSession } from '../auth/sessions.ts';
import { clientOf } from '../limits/rate-limit.ts';
import { tokenResponse } from './token-response.ts';

export const VerifyOtpSchema = z.object({
  challenge_id: z.uuid({ error: 'must be the challenge_id from POST /v1/auth/otp' }),
  code: z.string().trim().regex(/^(\d{6}|\d{10})$/, 'must be the code from the email (6 or 10 digits)'),
}).meta({ id: 'VerifyOtp' });

/**
 * POST /v1/auth/verify: trade a challenge's code for tokens. The first success for an email
 * creates its user (sign-up and sign-in are one step).
 */
export function handleVerifyOtp(deps: Pick<Deps, 'db' | 'config' | 'clock' | 'keys' | 'metrics'>): RequestHandler {
  const { db, config, clock, metrics } = deps;
  return async (req, res) => {
    const { challenge_id: challengeId, code } = VerifyOtpSchema.parse(req.body);
    const now = clock.now();
    const session = newSession({ ttlSeconds: config.refreshTtlSeconds, now });
    const user = await signInWithCode(db, {
      challengeId, clientKey: clientOf(req), code, secret: config.otpHashSecret, maxAttempts: config.otp.maxAttempts, shortCodeFailureBudget: config.otp.longCodesAfterFailures, now,
      session: { id: session.sessionId, expiresAt: session.expiresAt, refreshTokenHash: session.refreshTokenHash },
    });
    metrics.codes.inc({ event: user ? 'verified' : 'failed', reason: '' });
    if (!user) throw new HttpError(401, 'invalid_code', 'The code is wrong, expired or already used. Ask for a new one.');
    res.json(tokenResponse(deps, { user, sessionId: session.sessionId, refreshToken: session.refreshToken, now }));
  };
}
