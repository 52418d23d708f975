import { sql } from 'kysely';
import { generateOpaqueToken, hashOpaqueToken, type Db, type SecretBox, type User } from '@cheershare/shared';
import type { NewSession } from './sessions.ts';
import { matchTotp } from './totp.ts';
import { hashRecoveryCode, normaliseRecoveryCode } from './recovery-codes.ts';

// The owner of user_totp, recovery_codes and mfa_challenges (migration 0007). Functions that
// take `db` also take a transaction (a Kysely Transaction is a Db).

// Authenticated with the sealed value, so a secret copied onto another user's row does not open.
const contextOf = (userId: string) => `totp:${userId}`;

export interface UserTotp {
  sealed: string;
  confirmed: boolean;
  /** The last time step a code was accepted for. */
  lastStep: number | null;
}

export async function findTotp(db: Db, userId: string): Promise<UserTotp | undefined> {
  const row = await db.selectFrom('user_totp').select(['secret_sealed', 'confirmed_at', 'last_step']).where('user_id', '=', userId).executeTakeFirst();
  return row && { sealed: row.secret_sealed, confirmed: row.confirmed_at !== null, lastStep: row.last_step === null ? null : Number(row.last_step) };
}

/**
 * Stores a new pending secret for `userId` (sealed), replacing a pending one. False, and nothing
 * changed, when the user's authenticator app is already confirmed.
 */
export async function beginTotpEnrolment(db: Db, secrets: SecretBox, args: { userId: string; secret: string; now: Date }): Promise<boolean> {
  const sealed = secrets.seal(args.secret, contextOf(args.userId));
  const row = await db.insertInto('user_totp').values({ user_id: args.userId, secret_sealed: sealed, created_at: args.now })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ secret_sealed: sealed, created_at: args.now, last_step: null }).where('user_totp.confirmed_at', 'is', null))
    .returning('user_id').executeTakeFirst();
  return row !== undefined;
}

/** What a code proves before the database has a say: the TOTP time step it is for, or the recovery code's hash. */
export type Factor = { kind: 'totp'; step: number; resealed?: string } | { kind: 'recovery'; hash: Buffer };

/**
 * Reads `code` (6 digits: the app's; otherwise a recovery code) against the user's TOTP. Null when
 * it cannot be right: a wrong or replayed TOTP, or something that is not a recovery code.
 */
export async function readFactor(
  code: string,
  args: { userId: string; totp: UserTotp; secrets: SecretBox; hashSecret: string; now: Date; recovery?: boolean },
): Promise<Factor | null> {
  if (/^\d{6}$/.test(code)) {
    const secret = args.secrets.open(args.totp.sealed, contextOf(args.userId));
    const step = await matchTotp(secret, code, { now: args.now, after: args.totp.lastStep });
    if (step === null) return null;
    // Sealed with a key that has since been rotated out of SECRET_ENCRYPTION_KEY: the accepted
    // code seals it again with the current one, so the old key can be retired once no row names it.
    const resealed = args.secrets.isCurrent(args.totp.sealed) ? undefined : args.secrets.seal(secret, contextOf(args.userId));
    return { kind: 'totp', step, ...(resealed !== undefined && { resealed }) };
  }
  const recovery = args.recovery === false ? null : normaliseRecoveryCode(code);
  return recovery === null ? null : { kind: 'recovery', hash: hashRecoveryCode(args.hashSecret, args.userId, recovery) };
}

/**
 * Spends a factor, atomically: a TOTP step is taken only if it is later than the last one taken
 * (one conditional UPDATE, so of two processes given the same code one wins) and the secret is
 * still the one it was checked against; a recovery code only if unused.
 */
export async function spendFactor(db: Db, args: { userId: string; sealed: string; factor: Factor; now: Date }): Promise<boolean> {
  const { userId, factor } = args;
  if (factor.kind === 'totp') {
    const row = await db.updateTable('user_totp').set({ last_step: factor.step, ...(factor.resealed !== undefined && { secret_sealed: factor.resealed }) })
      .where('user_id', '=', userId).where('secret_sealed', '=', args.sealed)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', String(factor.step))]))
      .returning('user_id').executeTakeFirst();
    return row !== undefined;
  }
  const row = await db.updateTable('recovery_codes').set({ used_at: args.now })
    .where('user_id', '=', userId).where('code_hash', '=', factor.hash).where('used_at', 'is', null)
    .returning('id').executeTakeFirst();
  return row !== undefined;
}

/** Turns a pending authenticator app on; true when it was pending (not a repeat confirmation). */
export async function confirmTotp(db: Db, userId: string, now: Date): Promise<boolean> {
  const row = await db.updateTable('user_totp').set({ confirmed_at: now }).where('user_id', '=', userId).where('confirmed_at', 'is', null)
    .returning('user_id').executeTakeFirst();
  return row !== undefined;
}

/** The user's recovery codes become `hashes`: any earlier ones, used or not, stop working. */
export async function replaceRecoveryCodes(db: Db, userId: string, hashes: Buffer[], now: Date): Promise<void> {
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  await db.insertInto('recovery_codes').values(hashes.map((code_hash) => ({ user_id: userId, code_hash, created_at: now }))).execute();
}

/** Wrong second-factor codes recorded for `userId` in the hour before `now` (the activity log's mfa_failed). */
export async function recentMfaFailures(db: Db, userId: string, now: Date): Promise<number> {
  const row = await db.selectFrom('auth_events').select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId).where('kind', '=', 'mfa_failed').where('at', '>', new Date(now.getTime() - 3_600_000))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** When the session `sessionId` signed in (its email code, or its second step). */
export async function signedInAt(db: Db, sessionId: string): Promise<Date | undefined> {
  return (await db.selectFrom('sessions').select('created_at').where('id', '=', sessionId).executeTakeFirst())?.created_at;
}

/** MFA off: the secret, the recovery codes and any second step still pending are gone. */
export async function removeTotp(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('mfa_challenges').where('user_id', '=', userId).where('consumed_at', 'is', null).execute();
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  await db.deleteFrom('user_totp').where('user_id', '=', userId).execute();
}

/**
 * The second step of a sign-in whose email code was right: a random token (256 bits, stored as
 * SHA-256), bound to that email challenge (one each), living `ttlSeconds`.
 */
export async function startMfaChallenge(db: Db, args: { userId: string; challengeId: string; ttlSeconds: number; now: Date }): Promise<string> {
  const token = generateOpaqueToken();
  await db.insertInto('mfa_challenges').values({
    user_id: args.userId, challenge_id: args.challengeId, token_hash: hashOpaqueToken(token),
    created_at: args.now, expires_at: new Date(args.now.getTime() + args.ttlSeconds * 1000),
  }).execute();
  return token;
}

export interface PendingMfa {
  id: string;
  userId: string;
  totp: UserTotp;
}

/**
 * Counts one attempt on a live second step before its code is looked at, so racing requests
 * cannot try more than `maxAttempts` codes between them. Undefined when the token is unknown,
 * used, expired, out of attempts, or its user no longer has MFA on.
 */
export async function takeMfaAttempt(db: Db, args: { token: string; maxAttempts: number; now: Date }): Promise<PendingMfa | undefined> {
  const row = await db.updateTable('mfa_challenges as m').from('user_totp as t')
    .set((eb) => ({ attempts: eb('m.attempts', '+', 1) }))
    .whereRef('t.user_id', '=', 'm.user_id').where('t.confirmed_at', 'is not', null)
    .where('m.token_hash', '=', hashOpaqueToken(args.token)).where('m.consumed_at', 'is', null)
    .where('m.expires_at', '>', args.now).where('m.attempts', '<', args.maxAttempts)
    .returning(['m.id', 'm.user_id', 't.secret_sealed', 't.last_step']).executeTakeFirst();
  return row && {
    id: row.id, userId: row.user_id,
    totp: { sealed: row.secret_sealed, confirmed: true, lastStep: row.last_step === null ? null : Number(row.last_step) },
  };
}

/**
 * Consumes the second step and starts the session with its first refresh token, in one statement
 * (as sign-in without MFA does). Undefined if it was consumed or expired meanwhile.
 */
export async function completeMfaChallenge(
  db: Db,
  args: { id: string; session: NewSession; origin: { ip: string; userAgent: string | null }; now: Date },
): Promise<User | undefined> {
  const { session, now } = args;
  const { rows } = await sql<User>`
    with consumed as (
      update mfa_challenges set consumed_at = ${now}
      where id = ${args.id} and consumed_at is null and expires_at > ${now}
      returning user_id
    ), session as (
      insert into sessions (id, user_id, created_at, expires_at, last_used_at, ip, user_agent)
      select ${session.sessionId}, user_id, ${now}, ${session.expiresAt}, ${now}, ${args.origin.ip}, ${args.origin.userAgent} from consumed
      returning id, user_id
    ), refresh as (
      insert into refresh_tokens (session_id, token_hash, created_at) select id, ${session.refreshTokenHash}, ${now} from session
    )
    select u.id, u.email, u.name, u.created_at, u.updated_at from users u join session s on s.user_id = u.id`.execute(db);
  return rows[0];
}

/** Runs `work` in a transaction that commits only if it returns something other than null. */
export async function allOrNothing<T>(db: Db, work: (trx: Db) => Promise<T | null>): Promise<T | null> {
  const rollback = new Error('rollback');
  try {
    return await db.transaction().execute(async (trx) => {
      const result = await work(trx);
      if (result === null) throw rollback;
      return result;
    });
  } catch (err) {
    if (err === rollback) return null;
    throw err;
  }
}
