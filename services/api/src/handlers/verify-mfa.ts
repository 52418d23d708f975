import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { allOrNothing, completeMfaChallenge, readFactor, recentMfaFailures, spendFactor, startMfaChallenge, takeMfaAttempt } from '../auth/mfa.ts';
import { newSession } from '../auth/sessions.ts';
import { recordAuthEvent, requestOrigin } from '../auth/events.ts';
import { tokenResponse } from './token-response.ts';
import { SecondFactorCodeSchema } from './schemas.ts';

export const VerifyMfaSchema = z.object({
  mfa_token: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be the mfa_token from POST /v1/auth/verify'),
  code: SecondFactorCodeSchema,
}).meta({ id: 'VerifyMfa' });

/** What POST /v1/auth/verify answers instead of tokens when the user has MFA on. */
export const MfaRequiredSchema = z.object({
  mfa_required: z.literal(true),
  mfa_token: z.string().meta({ description: 'Send it with a code to POST /v1/auth/mfa/verify. Works once.' }),
  expires_in: z.int().positive().meta({ description: 'Seconds the mfa_token lives.' }),
}).meta({ id: 'MfaRequired' });

/** The second step of a sign-in with MFA on: its token, bound to the email challenge `challengeId`. */
export async function mfaRequired({ db, config }: Pick<Deps, 'db' | 'config'>, args: { userId: string; challengeId: string; now: Date }): Promise<z.infer<typeof MfaRequiredSchema>> {
  const ttlSeconds = config.mfa.tokenTtlSeconds;
  const token = await startMfaChallenge(db, { ...args, ttlSeconds });
  return { mfa_required: true, mfa_token: token, expires_in: ttlSeconds };
}

/**
 * POST /v1/auth/mfa/verify: complete a sign-in with the authenticator app's code or a recovery
 * code. Every code tried counts against the mfa_token (MFA_MAX_ATTEMPTS, then it is dead).
 */
export function handleVerifyMfa(deps: Pick<Deps, 'db' | 'config' | 'clock' | 'keys' | 'secrets'>): RequestHandler {
  const { db, config, clock, secrets } = deps;
  const spent = () => new HttpError(401, 'invalid_mfa_token', 'This sign-in has expired, is complete, or took too many codes. Sign in again.');
  const wrong = () => new HttpError(401, 'invalid_code', 'The code is wrong or was already used.');
  return async (req, res) => {
    const { mfa_token: token, code } = VerifyMfaSchema.parse(req.body);
    const now = clock.now();
    const pending = await takeMfaAttempt(db, { token, maxAttempts: config.mfa.maxAttempts, now });
    if (!pending) throw spent();
    const { userId, totp } = pending;
    // Per account, whatever the token or address: each email code gives a fresh mfa_token, so
    // without this whoever reads the mailbox could keep guessing (MFA_MAX_FAILURES_PER_HOUR).
    if (await recentMfaFailures(db, userId, now) >= config.mfa.maxFailuresPerHour) {
      throw new HttpError(429, 'too_many_attempts', 'Too many wrong codes for this account in the last hour. Try again later.', { 'Retry-After': '3600' });
    }
    const factor = await readFactor(code, { userId, totp, secrets, hashSecret: config.otpHashSecret, now });
    const session = newSession({ ttlSeconds: config.refreshTtlSeconds, now });
    // The factor is spent only with the session started: a lost race (the token completed by a
    // parallel request) leaves the TOTP step or recovery code as it was.
    const user = factor && await allOrNothing(db, async (trx) => {
      if (!await spendFactor(trx, { userId, sealed: totp.sealed, factor, now })) return null;
      return (await completeMfaChallenge(trx, { id: pending.id, session, origin: requestOrigin(req), now })) ?? null;
    });
    if (!factor || !user) {
      await recordAuthEvent(db, req, { kind: 'mfa_failed', userId }, now);
      throw wrong();
    }
    await recordAuthEvent(db, req, { kind: factor.kind === 'totp' ? 'mfa_used' : 'recovery_code_used', userId, sessionId: session.sessionId }, now);
    res.json(tokenResponse(deps, { user, sessionId: session.sessionId, refreshToken: session.refreshToken, now }));
  };
}
