import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { digestsEqual, generateOtpCode, hashOtpCode, type Db, type OtpChallenge } from '@cheershare/shared';

type Tx = Pick<Db, 'selectFrom' | 'insertInto' | 'updateTable' | 'deleteFrom'>;

export interface IssueLimits {
  /** Minimum spacing between two codes for one email. */
  resendSeconds: number;
  /** Codes one email may be sent per rolling hour. */
  maxPerHour: number;
  /** Wrong codes one email may accumulate per rolling 24 hours before no new code is issued. */
  maxFailedPerDay: number;
}

export type CreateChallengeResult =
  | { ok: true; challengeId: string; code: string; expiresAt: Date }
  | { ok: false; reason: 'resend_too_soon' | 'too_many_codes' | 'too_many_failures'; retryAfterSeconds: number };

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** Why `email` may not have a new code now, and for how long, or null when it may. */
function refusal(history: { created_at: Date; attempts: number }[], limits: IssueLimits, now: number) {
  const wait = (until: number) => Math.max(1, Math.ceil((until - now) / 1000));
  const newest = history.at(-1);
  if (newest && now - newest.created_at.getTime() < limits.resendSeconds * 1000) {
    return { reason: 'resend_too_soon' as const, retryAfterSeconds: wait(newest.created_at.getTime() + limits.resendSeconds * 1000) };
  }
  const lastHour = history.filter((c) => now - c.created_at.getTime() < HOUR);
  if (lastHour.length >= limits.maxPerHour) {
    return { reason: 'too_many_codes' as const, retryAfterSeconds: wait(lastHour[0]!.created_at.getTime() + HOUR) };
  }
  // Every code has its own 5 attempts, so without this a patient attacker would get 5 more guesses
  // per code forever. Wrong guesses are counted per email over a day, whoever asks.
  let failed = history.reduce((n, c) => n + c.attempts, 0);
  if (failed >= limits.maxFailedPerDay) {
    for (const c of history) {
      failed -= c.attempts;
      if (failed < limits.maxFailedPerDay) return { reason: 'too_many_failures' as const, retryAfterSeconds: wait(c.created_at.getTime() + DAY) };
    }
  }
  return null;
}

/**
 * Issues a new code for `email` within the issue limits. The newest challenge of an email is the
 * only live one, so creating this one retires every earlier code.
 */
export async function createChallenge(
  db: Db,
  args: { email: string; name: string | null; secret: string; ttlSeconds: number; limits: IssueLimits; now: Date },
): Promise<CreateChallengeResult> {
  const { email, now } = args;
  return db.transaction().execute(async (trx) => {
    // Serialise requests for one email so two racing requests cannot both pass the limits.
    await sql`select pg_advisory_xact_lock(hashtextextended(${email}, 0))`.execute(trx);
    const history = await trx.selectFrom('otp_challenges').select(['created_at', 'attempts']).where('email', '=', email)
      .where('created_at', '>', new Date(now.getTime() - DAY)).orderBy('created_at').execute();
    const refused = refusal(history, args.limits, now.getTime());
    if (refused) return { ok: false, ...refused };
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
