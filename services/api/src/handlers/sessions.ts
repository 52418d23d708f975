import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { recordAuthEvent } from '../auth/events.ts';
import { listActiveSessions, revokeOwnSession, revokeUserSessions, type ActiveSession } from '../auth/sessions.ts';
import { authOf } from '../middleware/authenticate.ts';

// A list a person reads; anyone with more sessions than this ends the rest with logout-all.
const MAX_LISTED = 100;

export const SessionSchema = z.object({
  id: z.uuid(),
  created_at: z.iso.datetime().meta({ description: 'When the session signed in.' }),
  last_used_at: z.iso.datetime().meta({ description: 'Its last sign-in, refresh or request (to the minute).' }),
  user_agent: z.string().nullable().meta({ description: 'The User-Agent it signed in with (at most 256 characters).' }),
  ip: z.string().nullable().meta({ description: 'The client address it signed in from.' }),
  current: z.boolean().meta({ description: 'True for the session of the access token making this request.' }),
}).meta({ id: 'Session' });
export const SessionListSchema = z.object({ sessions: z.array(SessionSchema) }).meta({ id: 'SessionList' });
export const LogoutAllSchema = z.object({
  keep_current: z.boolean().default(false).meta({ description: 'Keep the session making this request signed in.' }),
}).meta({ id: 'LogoutAll' });

const notFound = () => new HttpError(404, 'not_found', 'No such session.');
const Id = z.uuid();

function presentSession(s: ActiveSession, currentId: string): z.infer<typeof SessionSchema> {
  return {
    id: s.id,
    created_at: s.created_at.toISOString(),
    last_used_at: (s.last_used_at ?? s.last_refreshed_at ?? s.created_at).toISOString(),
    user_agent: s.user_agent,
    ip: s.ip,
    current: s.id === currentId,
  };
}

/** GET /v1/me/sessions: the caller's active sessions, most recently used first. */
export function handleListSessions({ db, clock }: Pick<Deps, 'db' | 'clock'>): RequestHandler {
  return async (_req, res) => {
    const { userId, sessionId } = authOf(res);
    const sessions = await listActiveSessions(db, { userId, now: clock.now(), limit: MAX_LISTED });
    res.json({ sessions: sessions.map((s) => presentSession(s, sessionId)) });
  };
}

/** DELETE /v1/me/sessions/:id: end one of the caller's sessions (the caller's own too: a logout). Others' are 404. */
export function handleRevokeSession({ db, clock }: Pick<Deps, 'db' | 'clock'>): RequestHandler {
  return async (req, res) => {
    const id = Id.safeParse(req.params.id);
    if (!id.success) throw notFound();
    const { userId } = authOf(res);
    const now = clock.now();
    const revoked = await db.transaction().execute(async (trx) => {
      if (!(await revokeOwnSession(trx, { userId, sessionId: id.data, reason: 'revoked_by_user', now }))) return false;
      await recordAuthEvent(trx, req, { kind: 'session_revoked', userId, sessionId: id.data }, now);
      return true;
    });
    if (!revoked) throw notFound();
    res.status(204).end();
  };
}

/**
 * POST /v1/auth/logout-all, optionally `{"keep_current": true}`: end every session of the caller,
 * or every other one.
 */
export function handleLogoutAll({ db, clock }: Pick<Deps, 'db' | 'clock'>): RequestHandler {
  return async (req, res) => {
    // The body is optional (an empty one too); one that is there must be JSON.
    const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0;
    if (hasBody && !req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'Send the body as application/json.');
    const { keep_current: keepCurrent } = LogoutAllSchema.parse(req.body ?? {});
    const { userId, sessionId } = authOf(res);
    const now = clock.now();
    await db.transaction().execute(async (trx) => {
      await revokeUserSessions(trx, { userId, keep: keepCurrent ? sessionId : undefined, reason: 'logout_all', now });
      await recordAuthEvent(trx, req, { kind: 'logout_all', userId, sessionId }, now);
    });
    res.status(204).end();
  };
}
