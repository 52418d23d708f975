import { randomUUID } from 'node:crypto';
import { generateOpaqueToken, hashOpaqueToken, type Db, type Session } from '@cheershare/shared';

type Tx = Pick<Db, 'selectFrom' | 'insertInto' | 'updateTable'>;

export interface IssuedSession {
  sessionId: string;
  refreshToken: string;
  expiresAt: Date;
}

/** Starts a session (a refresh-token family) for `userId` with its first refresh token. */
export async function createSession(trx: Tx, args: { userId: string; ttlSeconds: number; now: Date }): Promise<IssuedSession> {
  const sessionId = randomUUID();
  const expiresAt = new Date(args.now.getTime() + args.ttlSeconds * 1000);
  await trx.insertInto('sessions').values({ id: sessionId, user_id: args.userId, created_at: args.now, expires_at: expiresAt }).execute();
  const refreshToken = await addRefreshToken(trx, sessionId, args.now);
  return { sessionId, refreshToken, expiresAt };
}

async function addRefreshToken(trx: Tx, sessionId: string, now: Date): Promise<string> {
  const token = generateOpaqueToken();
  await trx.insertInto('refresh_tokens').values({ session_id: sessionId, token_hash: hashOpaqueToken(token), created_at: now }).execute();
  return token;
}

export type RotateResult =
  | { ok: true; session: Session; refreshToken: string }
  | { ok: false; reason: 'unknown' | 'reused' | 'revoked' | 'expired' };

/**
 * Exchanges a refresh token for a new one in the same session. A token that was already
 * exchanged is proof it leaked: the whole session (every token of the family) is revoked.
 */
export async function rotateRefreshToken(trx: Tx, args: { token: string; now: Date }): Promise<RotateResult> {
  const row = await trx.selectFrom('refresh_tokens').select(['id', 'session_id', 'rotated_at'])
    .where('token_hash', '=', hashOpaqueToken(args.token)).forUpdate().executeTakeFirst();
  if (!row) return { ok: false, reason: 'unknown' };
  const session = await trx.selectFrom('sessions').selectAll().where('id', '=', row.session_id).forUpdate().executeTakeFirstOrThrow();
  if (session.revoked_at) return { ok: false, reason: 'revoked' };
  if (row.rotated_at) {
    await revokeSession(trx, session.id, 'refresh_token_reuse', args.now);
    return { ok: false, reason: 'reused' };
  }
  if (session.expires_at <= args.now) return { ok: false, reason: 'expired' };
  await trx.updateTable('refresh_tokens').set({ rotated_at: args.now }).where('id', '=', row.id).execute();
  await trx.updateTable('sessions').set({ last_refreshed_at: args.now }).where('id', '=', session.id).execute();
  const refreshToken = await addRefreshToken(trx, session.id, args.now);
  return { ok: true, session, refreshToken };
}

export async function revokeSession(trx: Tx, sessionId: string, reason: string, now: Date): Promise<void> {
  await trx.updateTable('sessions').set({ revoked_at: now, revoked_reason: reason })
    .where('id', '=', sessionId).where('revoked_at', 'is', null).execute();
}

/** True when the session exists, belongs to `userId`, and is neither revoked nor expired. */
export async function isSessionActive(db: Db, args: { sessionId: string; userId: string; now: Date }): Promise<boolean> {
  const row = await db.selectFrom('sessions').select('id')
    .where('id', '=', args.sessionId).where('user_id', '=', args.userId)
    .where('revoked_at', 'is', null).where('expires_at', '>', args.now).executeTakeFirst();
  return row !== undefined;
}
