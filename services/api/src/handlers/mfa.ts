import type { RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { authOf } from '../middleware/authenticate.ts';
import { spend } from '../limits/rate-limit.ts';
import { recordAuthEvent } from '../auth/events.ts';
import { allOrNothing, beginTotpEnrolment, confirmTotp, findTotp, readFactor, removeTotp, replaceRecoveryCodes, signedInAt, spendFactor } from '../auth/mfa.ts';
import { revokeUserSessions } from '../auth/sessions.ts';
import { newTotpSecret, totpUri } from '../auth/totp.ts';
import { newRecoveryCodes, RECOVERY_CODE_COUNT } from '../auth/recovery-codes.ts';
import { SecondFactorCodeSchema, TotpCodeSchema } from './schemas.ts';

export const TotpEnrolmentSchema = z.object({
  secret: z.string().meta({ description: 'Base32, for typing into an app by hand (SHA-1, 6 digits, 30 s).' }),
  otpauth_uri: z.string().meta({ description: 'otpauth://totp/<issuer>:<email>?secret=…&issuer=…: show it as a QR code.' }),
}).meta({ id: 'TotpEnrolment' });
export const ConfirmTotpSchema = z.object({ code: TotpCodeSchema }).meta({ id: 'ConfirmTotp' });
export const RecoveryCodesSchema = z.object({
  recovery_codes: z.array(z.string()).length(RECOVERY_CODE_COUNT).meta({ description: 'Each works once in place of an app code. Shown only now; stored hashed.' }),
}).meta({ id: 'RecoveryCodes' });
export const DisableTotpSchema = z.object({ code: SecondFactorCodeSchema }).meta({ id: 'DisableTotp' });

const wrongCode = () => new HttpError(403, 'invalid_code', 'The code is wrong or was already used.');

// Binding an authenticator app needs a fresh sign-in: an access token stolen later in a session's
// life cannot lock its owner out behind the thief's app.
async function requireRecentSignIn(db: Deps['db'], config: Deps['config'], sessionId: string, now: Date): Promise<void> {
  const at = await signedInAt(db, sessionId);
  if (!at || now.getTime() - at.getTime() > config.mfa.enrolMaxSignInAgeSeconds * 1000) {
    throw new HttpError(403, 'recent_sign_in_required', `Sign in again with an email code: turning on two-factor sign-in needs a sign-in at most ${config.mfa.enrolMaxSignInAgeSeconds} s old.`);
  }
}

// Codes tried on one account count per user as well as per client: a stolen access token used
// from many addresses still gets only MFA_REQUESTS_PER_CLIENT tries a window.
async function spendForUser(limits: Deps['limits'], res: Response, userId: string): Promise<void> {
  await spend(res, limits.mfa, `user:${userId}`, { code: 'too_many_requests', message: 'Too many codes tried for this account.' });
}

/** POST /v1/me/mfa/totp: a new pending secret (replacing a pending one); 409 once MFA is on. */
export function handleStartTotp({ db, config, clock, secrets }: Pick<Deps, 'db' | 'config' | 'clock' | 'secrets'>): RequestHandler {
  const issuer = config.mfa.issuer;
  return async (_req, res) => {
    const { userId, user, sessionId } = authOf(res);
    const now = clock.now();
    await requireRecentSignIn(db, config, sessionId, now);
    const secret = newTotpSecret();
    if (!await beginTotpEnrolment(db, secrets, { userId, secret, now })) {
      throw new HttpError(409, 'mfa_already_enabled', 'Two-factor sign-in is already on. Turn it off first to use another app.');
    }
    res.status(201).json({ secret, otpauth_uri: totpUri({ issuer, account: user.email, secret }) });
  };
}

/**
 * POST /v1/me/mfa/totp/confirm `{ "code" }`: the app's code turns MFA on and answers the recovery
 * codes. Again later (with a fresh code), it replaces the recovery codes.
 */
export function handleConfirmTotp({ db, config, clock, secrets, limits, logger }: Pick<Deps, 'db' | 'config' | 'clock' | 'secrets' | 'limits' | 'logger'>): RequestHandler {
  const hashSecret = config.otpHashSecret;
  return async (req, res) => {
    const { code } = ConfirmTotpSchema.parse(req.body);
    const { userId, sessionId } = authOf(res);
    await spendForUser(limits, res, userId);
    const now = clock.now();
    const totp = await findTotp(db, userId);
    if (!totp) throw new HttpError(409, 'mfa_not_enrolled', 'Start with POST /v1/me/mfa/totp.');
    if (!totp.confirmed) await requireRecentSignIn(db, config, sessionId, now);
    const factor = await readFactor(code, { userId, totp, secrets, hashSecret, now, recovery: false });
    const { codes, hashes } = newRecoveryCodes(hashSecret, userId);
    const confirmed = factor && await allOrNothing(db, async (trx) => {
      if (!await spendFactor(trx, { userId, sealed: totp.sealed, factor, now })) return null;
      const enabled = await confirmTotp(trx, userId, now);
      await replaceRecoveryCodes(trx, userId, hashes, now);
      return { enabled };
    });
    if (!confirmed) {
      await recordAuthEvent(db, req, { kind: 'mfa_failed', userId, sessionId }, now);
      throw wrongCode();
    }
    if (!confirmed.enabled) {
      // A repeat confirmation replaced the recovery codes: the owner should see that it happened.
      await recordAuthEvent(db, req, { kind: 'recovery_codes_replaced', userId, sessionId }, now);
    }
    if (confirmed.enabled) {
      // Every other session signed in without the second factor: they end, this one stays.
      await revokeUserSessions(db, { userId, keep: sessionId, reason: 'mfa_enabled', now });
      await recordAuthEvent(db, req, { kind: 'mfa_enabled', userId, sessionId }, now);
      logger.info({ userId }, 'two-factor sign-in turned on');
    }
    res.json({ recovery_codes: codes });
  };
}

/** DELETE /v1/me/mfa/totp `{ "code" }` (the app's or a recovery code): MFA off, recovery codes gone. */
export function handleDisableTotp({ db, config, clock, secrets, limits, logger }: Pick<Deps, 'db' | 'config' | 'clock' | 'secrets' | 'limits' | 'logger'>): RequestHandler {
  const hashSecret = config.otpHashSecret;
  return async (req, res) => {
    const { code } = DisableTotpSchema.parse(req.body);
    const { userId, sessionId } = authOf(res);
    await spendForUser(limits, res, userId);
    const now = clock.now();
    const totp = await findTotp(db, userId);
    if (!totp?.confirmed) throw new HttpError(409, 'mfa_not_enabled', 'Two-factor sign-in is not on.');
    const factor = await readFactor(code, { userId, totp, secrets, hashSecret, now });
    const removed = factor && await allOrNothing(db, async (trx) => {
      if (!await spendFactor(trx, { userId, sealed: totp.sealed, factor, now })) return null;
      await removeTotp(trx, userId);
      return true;
    });
    if (!removed) {
      await recordAuthEvent(db, req, { kind: 'mfa_failed', userId, sessionId }, now);
      throw wrongCode();
    }
    // Whoever turns the second factor off from this session, the others end with it.
    await revokeUserSessions(db, { userId, keep: sessionId, reason: 'mfa_disabled', now });
    await recordAuthEvent(db, req, { kind: 'mfa_disabled', userId, sessionId }, now);
    logger.info({ userId }, 'two-factor sign-in turned off');
    res.status(204).end();
  };
}
