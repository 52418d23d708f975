import type { Request } from 'express';
import type { Db } from '@cheershare/shared';
import { clientOf } from '../limits/rate-limit.ts';
import type { Deps } from '../deps.ts';

/**
 * What the account activity log records (`auth_events.kind`). Never a code, a token or a secret:
 * only what happened, when, from where and in which session.
 */
export type AuthEventKind =
  | 'code_requested' | 'code_verified' | 'code_failed' | 'limit_refused' | 'long_code_issued'
  | 'refreshed' | 'refresh_repeated' | 'refresh_reuse_detected' | 'logout' | 'logout_all' | 'session_revoked'
  | 'mfa_enabled' | 'mfa_disabled' | 'mfa_used' | 'mfa_failed' | 'recovery_code_used' | 'recovery_codes_replaced';

export interface AuthEvent {
  kind: AuthEventKind;
  userId?: string | null;
  sessionId?: string | null;
  challengeId?: string | null;
}

export interface Origin {
  ip: string;
  clientKey: string;
  userAgent: string | null;
}

/**
 * Where a request came from, as sessions and the activity log show it: the client address (as
 * TRUST_PROXY resolves it) and its user agent, without control characters, trimmed, at most 256
 * characters; null when there is none.
 */
export function requestOrigin(req: Request): Origin {
  const userAgent = (req.get('user-agent') ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim().slice(0, 256).trim();
  // A dual-stack socket reports IPv4 peers as ::ffff:192.0.2.1; people know them as 192.0.2.1.
  const ip = (req.ip ?? req.socket.remoteAddress ?? '').replace(/^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i, '$1');
  return { ip, clientKey: clientOf(req), userAgent: userAgent || null };
}

/** Appends one event to the account's activity log. */
export async function recordAuthEvent(db: Db, req: Request, event: AuthEvent, at: Date): Promise<void> {
  const origin = requestOrigin(req);
  await db.insertInto('auth_events').values({
    at, kind: event.kind, challenge_id: event.challengeId ?? null, client_key: origin.clientKey,
    user_id: event.userId ?? null, session_id: event.sessionId ?? null, ip: origin.ip, user_agent: origin.userAgent,
  }).execute();
}

export interface EventCursor {
  at: Date;
  id: string;
}

export interface ActivityRow {
  id: string;
  at: Date;
  kind: string;
  ip: string | null;
  user_agent: string | null;
  session_id: string | null;
}

/** `userId`'s events, newest first, `limit` after `cursor` (keyset pagination on the user's index). */
export async function listUserEvents(db: Db, args: { userId: string; limit: number; cursor?: EventCursor | undefined }): Promise<ActivityRow[]> {
  const { cursor } = args;
  let query = db.selectFrom('auth_events').select(['id', 'at', 'kind', 'ip', 'user_agent', 'session_id']).where('user_id', '=', args.userId);
  if (cursor) {
    query = query.where((eb) => eb.or([eb('at', '<', cursor.at), eb.and([eb('at', '=', cursor.at), eb('id', '<', cursor.id)])]));
  }
  return query.orderBy('at', 'desc').orderBy('id', 'desc').limit(args.limit).execute();
}

/** For limitPerClient: records a client's first refusal in a window (no user: limits come before the body is read). */
export function limitRefusalRecorder({ db, clock, logger }: Pick<Deps, 'db' | 'clock' | 'logger'>): (req: Request) => Promise<void> {
  return (req) => recordAuthEvent(db, req, { kind: 'limit_refused' }, clock.now())
    .catch((err: unknown) => logger.warn({ err }, 'could not record a limit refusal'));
}
