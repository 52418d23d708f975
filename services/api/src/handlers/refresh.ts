import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { recordAuthEvent } from '../auth/events.ts';
import { rotateRefreshToken, successorKey } from '../auth/sessions.ts';
import { findUser } from '../users.ts';
import { tokenResponse } from './token-response.ts';

export const RefreshSchema = z.object({ refresh_token: z.string().min(1).max(512) }).meta({ id: 'Refresh' });

/**
 * POST /v1/auth/refresh: rotate. The presented token stops working; presenting it again
 * revokes the whole session, except within REFRESH_REUSE_GRACE_SECONDS while its successor is
 * unused: then the answer is that same successor (two tabs refreshing at once).
 */
export function handleRefresh(deps: Pick<Deps, 'db' | 'config' | 'clock' | 'keys' | 'logger'>): RequestHandler {
  const { db, clock, logger, config } = deps;
  const key = successorKey(config.otpHashSecret);
  const graceSeconds = config.refreshReuseGraceSeconds;
  return async (req, res) => {
    const { refresh_token: token } = RefreshSchema.parse(req.body);
    const now = clock.now();
    const outcome = await db.transaction().execute(async (trx) => {
      const rotated = await rotateRefreshToken(trx, { token, now, graceSeconds, key });
      if (!rotated.ok) {
        if (rotated.reason === 'reused') {
          await recordAuthEvent(trx, req, { kind: 'refresh_reuse_detected', userId: rotated.session.user_id, sessionId: rotated.session.id }, now);
        }
        return rotated;
      }
      const user = await findUser(trx, rotated.session.user_id);
      if (!user) return { ok: false, reason: 'unknown' } as const;
      // A repeat within the grace window is its own kind, so the activity log shows it: a second tab,
      // or someone else holding the same token.
      await recordAuthEvent(trx, req, { kind: rotated.repeat ? 'refresh_repeated' : 'refreshed', userId: user.id, sessionId: rotated.session.id }, now);
      return { ...rotated, user };
    });
    if (!outcome.ok) {
      if (outcome.reason === 'reused') logger.warn({ sessionId: outcome.session.id }, 'refresh token reuse: session revoked');
      throw new HttpError(401, 'invalid_grant', 'The refresh token is invalid, expired or revoked. Sign in again.');
    }
    if (outcome.repeat) logger.info({ sessionId: outcome.session.id }, 'refresh repeated within the grace window: same pair');
    res.json(tokenResponse(deps, { user: outcome.user, sessionId: outcome.session.id, refreshToken: outcome.refreshToken, now }));
  };
}
