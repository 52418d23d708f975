import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { signInWithCode } from '../auth/challenges.ts';
import { newSession } from '../auth/sessions.ts';
import { requestOrigin } from '../auth/events.ts';
import { clientOf } from '../limits/rate-limit.ts';
import { tokenResponse } from './token-response.ts';
import { mfaRequired } from './verify-mfa.ts';

export const VerifyOtpSchema = z.object({
  challenge_id: z.uuid({ error: 'must be the challenge_id from POST /v1/auth/otp' }),
  code: z.string().trim().regex(/^(\d{6}|\d{10})$/, 'must be the code from the email (6 or 10 digits)'),
}).meta({ id: 'VerifyOtp' });

/**
 * POST /v1/auth/verify: trade a challenge's code for tokens. The first success for an email
 * creates its user (sign-up and sign-in are one step). A user with MFA on gets an mfa_token
 * instead, for POST /v1/auth/mfa/verify.
 */
export function handleVerifyOtp(deps: Pick<Deps, 'db' | 'config' | 'clock' | 'keys' | 'metrics'>): RequestHandler {
  const { db, config, clock, metrics } = deps;
  return async (req, res) => {
    const { challenge_id: challengeId, code } = VerifyOtpSchema.parse(req.body);
    const now = clock.now();
    const session = newSession({ ttlSeconds: config.refreshTtlSeconds, now });
    const user = await signInWithCode(db, {
      challengeId, clientKey: clientOf(req), code, secret: config.otpHashSecret, maxAttempts: config.otp.maxAttempts, shortCodeFailureBudget: config.otp.longCodesAfterFailures, now,
      origin: requestOrigin(req),
      session: { id: session.sessionId, expiresAt: session.expiresAt, refreshTokenHash: session.refreshTokenHash },
    });
    metrics.codes.inc({ event: user ? 'verified' : 'failed', reason: '' });
    if (!user) throw new HttpError(401, 'invalid_code', 'The code is wrong, expired or already used. Ask for a new one.');
    // MFA on: the code is spent but no session started; the second step finishes the sign-in.
    if (user.mfa_required) {
      res.json(await mfaRequired(deps, { userId: user.id, challengeId, now }));
      return;
    }
    res.json(tokenResponse(deps, { user, sessionId: session.sessionId, refreshToken: session.refreshToken, now }));
  };
}
