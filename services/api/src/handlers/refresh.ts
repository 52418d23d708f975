import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { rotateRefreshToken } from '../auth/sessions.ts';
import { findUser } from '../users.ts';
import { tokenResponse } from './token-response.ts';

export const RefreshSchema = z.object({ refresh_token: z.string().min(1).max(512) }).meta({ id: 'Refresh' });

/**
 * POST /v1/auth/refresh: rotate. The presented token stops working; presenting it again
 * revokes the whole session.
 */
export function handleRefresh(deps: Pick<Deps, 'db' | 'config' | 'clock' | 'keys' | 'logger'>): RequestHandler {
  const { db, clock, logger } = deps;
  return async (req, res) => {
    const { refresh_token: token } = RefreshSchema.parse(req.body);
    const now = clock.now();
    const outcome = await db.transaction().execute(async (trx) => {
      const rotated = await rotateRefreshToken(trx, { token, now });
      if (!rotated.ok) return rotated;
      const user = await findUser(trx, rotated.session.user_id);
      return user ? { ...rotated, user } : ({ ok: false, reason: 'unknown' } as const);
    });
    if (!outcome.ok) {
      if (outcome.reason === 'reused') logger.warn('refresh token reuse: session revoked');
      throw new HttpError(401, 'invalid_grant', 'The refresh token is invalid, expired or revoked. Sign in again.');
    }
    res.json(tokenResponse(deps, { user: outcome.user, sessionId: outcome.session.id, refreshToken: outcome.refreshToken, now }));
  };
}
