import { randomUUID } from 'node:crypto';
import { generateOpaqueToken, hashOpaqueToken, statement, type Db, type Session } from '@cheershare/shared';
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

const activeSessionUser = statement<UserView>('active-session-user', `
  select u.id, u.email, u.name, u.created_at from sessions s join users u on u.id = s.user_id
  where s.id = $1 and s.user_id = $2 and s.revoked_at is null and s.expires_at > $3`);

/**
 * The user of a session that exists, belongs to `userId`, and is neither revoked nor expired;
 * undefined otherwise. One prepared statement, since every authenticated request runs it.
 */
export async function activeSessionOwner(db: Db, args: { sessionId: string; userId: string; now: Date }): Promise<UserView | undefined> {
  return (await activeSessionUser.run(db, [args.sessionId, args.userId, args.now]))[0];
}
