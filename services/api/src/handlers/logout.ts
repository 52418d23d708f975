import type { RequestHandler } from 'express';
import type { Deps } from '../deps.ts';
import { recordAuthEvent } from '../auth/events.ts';
import { revokeSession } from '../auth/sessions.ts';
import { authOf } from '../middleware/authenticate.ts';

/** POST /v1/auth/logout: revoke the caller's session; its refresh and access tokens stop working. */
export function handleLogout({ db, clock }: Pick<Deps, 'db' | 'clock'>): RequestHandler {
  return async (req, res) => {
    const { userId, sessionId } = authOf(res);
    const now = clock.now();
    await db.transaction().execute(async (trx) => {
      await revokeSession(trx, sessionId, 'logout', now);
      await recordAuthEvent(trx, req, { kind: 'logout', userId, sessionId }, now);
    });
    res.status(204).end();
  };
}
