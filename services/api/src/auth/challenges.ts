import { randomUUID } from 'node:crypto';
import { digestsEqual, generateOtpCode, hashOtpCode, statement, type Db, type User } from '@cheershare/shared';

export interface IssueLimits {
  /** Minimum spacing between two codes for one email. */
  resendSeconds: number;
  /** Codes one email may be sent per rolling hour. */
  maxPerHour: number;
  /** Wrong codes one email may accumulate per rolling 24 hours before no new code is issued. */
  maxFailedPerDay: number;
}

type Refusal = 'resend_too_soon' | 'too_many_codes' | 'too_many_failures';

export type CreateChallengeResult =
  | { ok: true; challengeId: string; code: string; expiresAt: Date }
  | { ok: false; reason: Refusal; retryAfterSeconds: number };

// The limits are checked and the challenge inserted under one per-email lock, inside PostgreSQL
// (migration 0003), so racing requests cannot both pass them and the API pays one round trip.
const issue = statement<{ refusal: Refusal | null; retry_after_seconds: number | null }>(
  'issue-otp-challenge',
  'select refusal, retry_after_seconds from issue_otp_challenge($1, $2, $3, $4, $5, $6, $7, $8, $9)',
);

/**
 * Issues a new code for `email` within the issue limits. The newest challenge of an email is the
 * only live one, so creating this one retires every earlier code.
 */
export async function createChallenge(
  db: Db,
  args: { email: string; name: string | null; secret: string; ttlSeconds: number; limits: IssueLimits; now: Date },
): Promise<CreateChallengeResult> {
  const { email, now, limits } = args;
  const challengeId = randomUUID();
  const code = generateOtpCode();
  const expiresAt = new Date(now.getTime() + args.ttlSeconds * 1000);
  const [row] = await issue.run(db, [
    challengeId, email, args.name, hashOtpCode(args.secret, challengeId, code), now, expiresAt,
    limits.resendSeconds, limits.maxPerHour, limits.maxFailedPerDay,
  ]);
  if (row?.refusal) return { ok: false, reason: row.refusal, retryAfterSeconds: row.retry_after_seconds ?? 1 };
  return { ok: true, challengeId, code, expiresAt };
}

/** Undoes a challenge whose email could not be queued, so the previous code is live again. */
export async function discardChallenge(db: Db, challengeId: string): Promise<void> {
  await db.deleteFrom('otp_challenges').where('id', '=', challengeId).execute();
}

// The live challenge of an email is its newest; an older one never comes back to life.
const newestChallenge = statement<{ id: string; code_hash: Buffer; attempts: number; expires_at: Date; consumed_at: Date | null }>(
  'newest-otp-challenge',
  'select id, code_hash, attempts, expires_at, consumed_at from otp_challenges where email = $1 order by created_at desc, id desc limit 1',
);

// A wrong code counts an attempt, only while the challenge is live.
const countWrongCode = statement('count-wrong-otp-code', `
  update otp_challenges set attempts = attempts + 1
  where id = $1 and consumed_at is null and expires_at > $2 and attempts < $3`);

// The right code, in one statement: consume the challenge if it is still live and still the
// newest of its email (the row lock makes a second, racing use find it consumed), find or create
// the user (do update, not do nothing, so a user created by a racing transaction is returned
// too), and start a session with its first refresh token.
const signIn = statement<User>('otp-sign-in', `
  with consumed as (
    update otp_challenges c set consumed_at = $2
    where c.id = $1 and c.consumed_at is null and c.expires_at > $2 and c.attempts < $3
      and not exists (select 1 from otp_challenges n where n.email = c.email and (n.created_at, n.id) > (c.created_at, c.id))
    returning c.email, c.name
  ), signed_in as (
    insert into users (email, name) select email, name from consumed
    on conflict (email) do update set email = excluded.email
    returning *
  ), session as (
    insert into sessions (id, user_id, created_at, expires_at) select $4, id, $2, $5 from signed_in
    returning id
  ), refresh as (
    insert into refresh_tokens (session_id, token_hash, created_at) select id, $6, $2 from session
  )
  select * from signed_in`);

// Hashing a throwaway value when there is no challenge keeps the unknown-email path about as slow as the others.
const DECOY_ID = '00000000-0000-0000-0000-000000000000';

/**
 * Checks `code` against the live challenge of `email`. A wrong code counts an attempt; the right
 * one consumes the challenge and signs the user in: its user (created on first sign-in) and a new
 * session whose first refresh token is `session.refreshTokenHash`. Wrong, expired, used,
 * exhausted and unknown all look the same to the caller: null.
 */
export async function signInWithCode(
  db: Db,
  args: { email: string; code: string; secret: string; maxAttempts: number; now: Date; session: { id: string; expiresAt: Date; refreshTokenHash: Buffer } },
): Promise<User | null> {
  const { now, maxAttempts } = args;
  const [challenge] = await newestChallenge.run(db, [args.email]);
  const candidate = hashOtpCode(args.secret, challenge?.id ?? DECOY_ID, args.code);
  if (!challenge) return null;
  const live = challenge.consumed_at === null && challenge.expires_at > now && challenge.attempts < maxAttempts;
  if (!live) return null;
  if (!digestsEqual(candidate, challenge.code_hash)) {
    await countWrongCode.run(db, [challenge.id, now, maxAttempts]);
    return null;
  }
  const { session } = args;
  const [user] = await signIn.run(db, [challenge.id, now, maxAttempts, session.id, session.expiresAt, session.refreshTokenHash]);
  return user ?? null;
}
