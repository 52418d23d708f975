import type { RequestHandler, Response } from 'express';
import type { Deps } from '../deps.ts';
import { invalidToken } from '../errors.ts';
import { activeSessionOwner } from '../auth/sessions.ts';
import type { UserView } from '../users.ts';

export interface Auth {
  userId: string;
  sessionId: string;
  /** The caller's user row, read with the session check. */
  user: UserView;
}

/**
 * Requires a valid ES256 access token whose session is still active, so logout and
 * refresh-token reuse take effect at once rather than when the token expires.
 */
export function requireUser({ db, accessTokens, clock }: Pick<Deps, 'db' | 'accessTokens' | 'clock'>): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer ([A-Za-z0-9_.-]{1,4096})$/.exec(req.get('authorization') ?? '');
    if (!match?.[1]) throw invalidToken('An access token is required: Authorization: Bearer <token>.');
    const now = clock.now();
    const claims = accessTokens.verify(match[1], now);
    if (!claims) throw invalidToken();
    const user = await activeSessionOwner(db, { sessionId: claims.sid, userId: claims.sub, now });
    if (!user) throw invalidToken();
    res.locals.auth = { userId: claims.sub, sessionId: claims.sid, user } satisfies Auth;
    next();
  };
}

/** The caller set by requireUser. */
export function authOf(res: Response): Auth {
  return res.locals.auth as Auth;
}
