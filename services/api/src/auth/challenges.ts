import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { digestsEqual, generateOtpCode, hashOtpCode, type Db, type OtpChallenge } from '@cheershare/shared';

type Tx = Pick<Db, 'selectFrom' | 'insertInto' | 'updateTable' | 'deleteFrom'>;

export type CreateChallengeResult =
  | { ok: true; challengeId: string; code: string; expiresAt: Date }
  | { ok: false; retryAfterSeconds: number };

/**
 * Issues a new code for `email` unless one was issued less than `resendSeconds` ago. The newest
 * challenge of an email is the only live one, so creating this one retires every earlier code.
 */
export async function createChallenge(
  db: Db,
  args: { email: string; name: string | null; secret: string; ttlSeconds: number; resendSeconds: number; now: Date },
): Promise<CreateChallengeResult> {
  const { email, now } = args;
  return db.transaction().execute(async (trx) => {
    // Serialise requests for one email so two racing requests cannot both pass the resend check.
    await sql`select pg_advisory_xact_lock(hashtextextended(${email}, 0))`.execute(trx);
    const last = await trx.selectFrom('otp_challenges').select('created_at').where('email', '=', email)
      .orderBy('created_at', 'desc').limit(1).executeTakeFirst();
    const elapsedMs = last ? now.getTime() - last.created_at.getTime() : Infinity;
    if (elapsedMs < args.resendSeconds * 1000) {
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((args.resendSeconds * 1000 - elapsedMs) / 1000)) };
    }
    const challengeId = randomUUID();
    const code = generateOtpCode();
    const expiresAt = new Date(now.getTime() + args.ttlSeconds * 1000);
    await trx.insertInto('otp_challenges').values({
      id: challengeId, email, name: args.name, code_hash: hashOtpCode(args.secret, challengeId, code), created_at: now, expires_at: expiresAt,
    }).execute();
    return { ok: true, challengeId, code, expiresAt };
  });
}

/** Undoes a challenge whose email could not be queued, so the previous code is live again. */
export async function discardChallenge(db: Db, challengeId: string): Promise<void> {
  await db.deleteFrom('otp_challenges').where('id', '=', challengeId).execute();
}

/** The live challenge of an email (its newest), locked for the rest of the transaction. */
async function lockNewestChallenge(trx: Tx, email: string): Promise<OtpChallenge | undefined> {
  return trx.selectFrom('otp_challenges').selectAll().where('email', '=', email)
    .orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).forUpdate().executeTakeFirst();
}

// Hashing a throwaway value when there is no challenge keeps the unknown-email path about as slow as the others.
const DECOY_ID = '00000000-0000-0000-0000-000000000000';

export type ConsumeResult = { ok: true; challenge: OtpChallenge } | { ok: false };

/**
 * Checks `code` against the live challenge of `email` inside `trx`. A wrong code counts an
 * attempt; the right one consumes the challenge. Wrong, expired, used, exhausted and unknown
 * all look the same to the caller.
 */
export async function consumeChallenge(
  trx: Tx,
  args: { email: string; code: string; secret: string; maxAttempts: number; now: Date },
): Promise<ConsumeResult> {
  const challenge = await lockNewestChallenge(trx, args.email);
  const candidate = hashOtpCode(args.secret, challenge?.id ?? DECOY_ID, args.code);
  if (!challenge) return { ok: false };
  const live = challenge.consumed_at === null && challenge.expires_at > args.now && challenge.attempts < args.maxAttempts;
  if (!live) return { ok: false };
  if (!digestsEqual(candidate, challenge.code_hash)) {
    await trx.updateTable('otp_challenges').set((eb) => ({ attempts: eb('attempts', '+', 1) })).where('id', '=', challenge.id).execute();
    return { ok: false };
  }
  await trx.updateTable('otp_challenges').set({ consumed_at: args.now }).where('id', '=', challenge.id).execute();
  return { ok: true, challenge };
}
