import type { RequestHandler } from 'express';
import type { Deps } from '../deps.ts';
import { revokeSession } from '../auth/sessions.ts';
import { authOf } from '../middleware/authenticate.ts';

/** POST /v1/auth/logout: revoke the caller's session; its refresh and access tokens stop working. */
export function handleLogout({ db, clock }: Pick<Deps, 'db' | 'clock'>): RequestHandler {
  return async (_req, res) => {
    await revokeSession(db, authOf(res).sessionId, 'logout', clock.now());
    res.status(204).end();
  };
}
