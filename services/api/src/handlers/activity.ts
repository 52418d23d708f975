import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { listUserEvents, type EventCursor } from '../auth/events.ts';
import { authOf } from '../middleware/authenticate.ts';

const encodeCursor = (c: EventCursor) => Buffer.from(`${c.at.toISOString()}|${c.id}`).toString('base64url');
const Cursor = z.string().max(200).transform((s, ctx) => {
  const [at, id] = Buffer.from(s, 'base64url').toString('utf8').split('|');
  // Exactly what encodeCursor writes: an ISO instant from 1970 on, and an id within bigint.
  const when = new Date(at ?? '');
  const wellFormed = /^(19[7-9]\d|[2-9]\d{3})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(at ?? '') && !Number.isNaN(when.getTime())
    && /^[1-9]\d{0,18}$/.test(id ?? '') && BigInt(id ?? '0') <= 9_223_372_036_854_775_807n;
  if (!wellFormed) {
    ctx.addIssue({ code: 'custom', message: 'is not a cursor this API returned' });
    return z.NEVER;
  }
  return { at: when, id: id! };
});
export const ActivityQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: Cursor.optional().meta({ description: 'next_cursor of the previous page.' }),
});

export const ActivityEventSchema = z.object({
  id: z.string().meta({ description: 'Opaque.' }),
  at: z.iso.datetime(),
  kind: z.string().meta({
    description: 'code_requested, long_code_issued, limit_refused, code_verified, code_failed, refreshed, refresh_repeated, refresh_reuse_detected, '
      + 'logout, logout_all, session_revoked, mfa_enabled, mfa_disabled, mfa_used, mfa_failed, recovery_code_used, recovery_codes_replaced.',
    example: 'code_verified',
  }),
  ip: z.string().nullable().meta({ description: 'The client address the request came from.' }),
  user_agent: z.string().nullable(),
  session_id: z.uuid().nullable().meta({ description: 'The session concerned (for session_revoked, the one ended).' }),
  current_session: z.boolean().meta({ description: 'True when session_id is the session making this request.' }),
}).meta({ id: 'ActivityEvent' });
export const ActivityListSchema = z.object({ events: z.array(ActivityEventSchema), next_cursor: z.string().nullable() }).meta({ id: 'ActivityList' });

/** GET /v1/me/activity: the caller's sign-in and session events, newest first; `next_cursor` fetches the next page. */
export function handleActivity({ db }: Pick<Deps, 'db'>): RequestHandler {
  return async (req, res) => {
    const { limit, cursor } = ActivityQuerySchema.parse(req.query);
    const { userId, sessionId } = authOf(res);
    const rows = await listUserEvents(db, { userId, limit: limit + 1, cursor });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    res.json({
      events: page.map((e) => ({
        id: String(e.id), at: e.at.toISOString(), kind: e.kind, ip: e.ip, user_agent: e.user_agent, session_id: e.session_id,
        current_session: e.session_id === sessionId,
      })),
      next_cursor: rows.length > limit && last ? encodeCursor({ at: last.at, id: String(last.id) }) : null,
    });
  };
}
