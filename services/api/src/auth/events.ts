import type { Request } from 'express';
import type { Db } from '@cheershare/shared';
import { clientOf } from '../limits/rate-limit.ts';

/**
 * What the account activity log records (`auth_events.kind`). Never a code, a token or a secret:
 * only what happened, when, from where and in which session.
 */
export type AuthEventKind =
  | 'code_requested' | 'code_verified' | 'code_failed' | 'limit_refused' | 'long_code_issued'
  | 'refreshed' | 'refresh_reuse_detected' | 'logout' | 'logout_all' | 'session_revoked'
  | 'mfa_enabled' | 'mfa_disabled' | 'mfa_used' | 'mfa_failed' | 'recovery_code_used';

export interface AuthEvent {
  kind: AuthEventKind;
  userId?: string | null;
  sessionId?: string | null;
  challengeId?: string | null;
}

/** Where a request came from, as the activity log shows it: the client address and its user agent (trimmed). */
export function requestOrigin(req: Request): { ip: string; clientKey: string; userAgent: string | null } {
  const userAgent = req.get('user-agent');
  return { ip: req.ip ?? '', clientKey: clientOf(req), userAgent: userAgent ? userAgent.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 256) : null };
}

/** Appends one event to the account's activity log. */
export async function recordAuthEvent(db: Db, req: Request, event: AuthEvent, at: Date): Promise<void> {
  const origin = requestOrigin(req);
  await db.insertInto('auth_events').values({
    at, kind: event.kind, challenge_id: event.challengeId ?? null, client_key: origin.clientKey,
    user_id: event.userId ?? null, session_id: event.sessionId ?? null, ip: origin.ip, user_agent: origin.userAgent,
  }).execute();
}
