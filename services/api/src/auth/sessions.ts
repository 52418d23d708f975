import { createHmac, createSecretKey, hkdfSync, randomUUID, type KeyObject } from 'node:crypto';
import { digestsEqual, generateOpaqueToken, hashOpaqueToken, statement, type Db, type Session } from '@cheershare/shared';
import type { UserView } from '../users.ts';

type Tx = Pick<Db, 'selectFrom' | 'insertInto' | 'updateTable'>;

export interface NewSession {
  sessionId: string;
  refreshToken: string;
  refreshTokenHash: Buffer;
  expiresAt: Date;
}

/**
 * The identifiers of a session (a refresh-token family) about to start, with its first refresh
 * token. Sign-in stores them in the same statement that consumes the code.
 */
export function newSession(args: { ttlSeconds: number; now: Date }): NewSession {
  const refreshToken = generateOpaqueToken();
  return {
    sessionId: randomUUID(),
    refreshToken,
    refreshTokenHash: hashOpaqueToken(refreshToken),
    expiresAt: new Date(args.now.getTime() + args.ttlSeconds * 1000),
  };
}

/** The key that derives each refresh token's successor (from OTP_HASH_SECRET, by HKDF). Make it once. */
export function successorKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync('sha256', secret, 'cheershare', 'refresh-successor-v1', 32)));
}

// The token that replaces `token` is derived from it, not drawn: only hashes are stored, and a
// repeat of the same refresh within the grace window must answer with the same successor. Without
// the key nobody can compute it; the first token of every session is random (256 bits).
function successorOf(key: KeyObject, token: string): string {
  return createHmac('sha256', key).update(token).digest('base64url');
}

export type RotateResult =
  | { ok: true; session: Session; refreshToken: string; /** The answer to a refresh already made (grace window). */ repeat: boolean }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired' }
  | { ok: false; reason: 'reused'; session: Session };

interface TokenRow {
  rotated_at: Date | null;
  successor_id: string | null;
}

/**
 * Within the grace window a rotated token is still worth its direct successor, as long as that
 * successor is unused: never a newer token, so a leaked old token cannot follow the session.
 */
async function repeatable(trx: Tx, row: TokenRow, successor: string, args: { now: Date; graceSeconds: number }): Promise<boolean> {
  if (!row.rotated_at || !row.successor_id || args.now.getTime() >= row.rotated_at.getTime() + args.graceSeconds * 1000) return false;
  const next = await trx.selectFrom('refresh_tokens').select(['token_hash', 'rotated_at']).where('id', '=', row.successor_id).executeTakeFirst();
  return !!next && next.rotated_at === null && digestsEqual(next.token_hash, hashOpaqueToken(successor));
}

/**
 * Exchanges a refresh token for its successor in the same session. A token that was already
 * exchanged is proof it leaked, and the whole session (every token of the family) is revoked,
 * except within `graceSeconds` of its exchange while the successor is unused: then the answer is
 * that same successor (two tabs refreshing at once both carry on, with one pair).
 */
export async function rotateRefreshToken(trx: Tx, args: { token: string; now: Date; graceSeconds: number; key: KeyObject }): Promise<RotateResult> {
  const { now } = args;
  const row = await trx.selectFrom('refresh_tokens').select(['id', 'session_id', 'rotated_at', 'successor_id'])
    .where('token_hash', '=', hashOpaqueToken(args.token)).forUpdate().executeTakeFirst();
  if (!row) return { ok: false, reason: 'unknown' };
  const session = await trx.selectFrom('sessions').selectAll().where('id', '=', row.session_id).forUpdate().executeTakeFirstOrThrow();
  if (session.revoked_at) return { ok: false, reason: 'revoked' };
  const successor = successorOf(args.key, args.token);
  if (row.rotated_at) {
    if (session.expires_at > now && (await repeatable(trx, row, successor, args))) return { ok: true, session, refreshToken: successor, repeat: true };
    await revokeSession(trx, session.id, 'refresh_token_reuse', now);
    return { ok: false, reason: 'reused', session };
  }
  if (session.expires_at <= now) return { ok: false, reason: 'expired' };
  const next = await trx.insertInto('refresh_tokens').values({ session_id: session.id, token_hash: hashOpaqueToken(successor), created_at: now })
    .returning('id').executeTakeFirstOrThrow();
  await trx.updateTable('refresh_tokens').set({ rotated_at: now, successor_id: next.id }).where('id', '=', row.id).execute();
  await trx.updateTable('sessions').set({ last_refreshed_at: now, last_used_at: now }).where('id', '=', session.id).execute();
  return { ok: true, session, refreshToken: successor, repeat: false };
}

export async function revokeSession(trx: Tx, sessionId: string, reason: string, now: Date): Promise<void> {
  await trx.updateTable('sessions').set({ revoked_at: now, revoked_reason: reason })
    .where('id', '=', sessionId).where('revoked_at', 'is', null).execute();
}

/** Ends one of `userId`'s active sessions; false when there is no such session (or it is someone else's). */
export async function revokeOwnSession(db: Db, args: { userId: string; sessionId: string; reason: string; now: Date }): Promise<boolean> {
  const result = await db.updateTable('sessions').set({ revoked_at: args.now, revoked_reason: args.reason })
    .where('id', '=', args.sessionId).where('user_id', '=', args.userId).where('revoked_at', 'is', null).where('expires_at', '>', args.now)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Ends every active session of `userId` except `keep` (when given); the number ended. */
export async function revokeUserSessions(db: Db, args: { userId: string; keep?: string | undefined; reason: string; now: Date }): Promise<number> {
  let query = db.updateTable('sessions').set({ revoked_at: args.now, revoked_reason: args.reason })
    .where('user_id', '=', args.userId).where('revoked_at', 'is', null).where('expires_at', '>', args.now);
  if (args.keep) query = query.where('id', '!=', args.keep);
  return Number((await query.executeTakeFirst()).numUpdatedRows);
}

export type ActiveSession = Pick<Session, 'id' | 'created_at' | 'last_used_at' | 'last_refreshed_at' | 'user_agent' | 'ip'>;

/** `userId`'s sessions that are neither revoked nor expired, most recently used first (at most `limit`). */
export async function listActiveSessions(db: Db, args: { userId: string; now: Date; limit: number }): Promise<ActiveSession[]> {
  return db.selectFrom('sessions').select(['id', 'created_at', 'last_used_at', 'last_refreshed_at', 'user_agent', 'ip'])
    .where('user_id', '=', args.userId).where('revoked_at', 'is', null).where('expires_at', '>', args.now)
    .orderBy((eb) => eb.fn.coalesce('last_used_at', 'last_refreshed_at', 'created_at'), 'desc').orderBy('created_at', 'desc').orderBy('id')
    .limit(args.limit).execute();
}

// The session check of every authenticated request, and in the same statement (no extra round
// trip) the session's last use, written at most once a minute so a busy client does not turn each
// request into a write. The select reads the statement's snapshot, so the update changes nothing
// it sees; a session revoked or expired is neither touched nor answered.
const activeSessionUser = statement<UserView>('active-session-user', `
  with touched as (
    update sessions set last_used_at = $3
    where id = $1 and user_id = $2 and revoked_at is null and expires_at > $3
      and (last_used_at is null or last_used_at <= $3::timestamptz - interval '1 minute')
  )
  select u.id, u.email, u.name, u.created_at from sessions s join users u on u.id = s.user_id
  where s.id = $1 and s.user_id = $2 and s.revoked_at is null and s.expires_at > $3`);

/**
 * The user of a session that exists, belongs to `userId`, and is neither revoked nor expired;
 * undefined otherwise. One prepared statement, since every authenticated request runs it; it also
 * records the session's last use (at most once a minute).
 */
export async function activeSessionOwner(db: Db, args: { sessionId: string; userId: string; now: Date }): Promise<UserView | undefined> {
  return (await activeSessionUser.run(db, [args.sessionId, args.userId, args.now]))[0];
}
