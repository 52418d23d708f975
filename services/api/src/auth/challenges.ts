import { randomUUID } from 'node:crypto';
import { digestsEqual, generateOtpCode, hashOtpCode, statement, type Db, type User } from '@cheershare/shared';
import { canonicalMailbox } from './mailbox.ts';

/** Where a request came from (see requestOrigin), as sessions and events record it. */
export interface RequestOrigin {
  ip: string;
  userAgent: string | null;
}

export interface IssueLimits {
  /** Minimum spacing between two codes mailed to one mailbox for one client. */
  resendSeconds: number;
  /** Codes one client may have mailed to one mailbox per rolling hour. */
  maxPerClientHour: number;
  /** Codes one mailbox may be mailed per rolling hour, whoever asks. */
  maxPerMailboxHour: number;
  /** Wrong guesses a mailbox may see per rolling day before its codes are 10 digits long. */
  longCodesAfterFailures: number;
}

export interface IssuedChallenge {
  challengeId: string;
  code: string;
  expiresAt: Date;
  /** False when a mailbox limit held the code back: the caller answers the same, but mails nothing. */
  sent: boolean;
}

// Limits checked and the challenge inserted under one per-mailbox lock, inside PostgreSQL
// (migrations 0003 and 0004): one round trip, and racing requests cannot both pass a limit.
// The same statement records one event whatever the outcome (mailed, mailed long, held back), for
// the account of that address if there is one: the same work for every address.
const issue = statement<{ sent: boolean; code_length: number }>('issue-otp-challenge', `
  with issued as (
    select sent, code_length from issue_otp_challenge($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
  ), recorded as (
    insert into auth_events (at, kind, challenge_id, client_key, user_id, ip, user_agent)
    select $8, case when not sent then 'limit_refused' when code_length = 10 then 'long_code_issued' else 'code_requested' end,
           $1, $4, (select u.id from users u where u.email = $2), $14, $15
    from issued
  )
  select sent, code_length from issued`);

/**
 * Issues a challenge for `email` requested by `clientKey`. Every request gets one, so the answer
 * never depends on the address's history; one over a mailbox limit is stored as suppressed and
 * never mailed. The code is 6 digits, or 10 once the mailbox has seen too many wrong guesses (the
 * database decides, so both are prepared).
 */
export async function issueChallenge(
  db: Db,
  args: { email: string; clientKey: string; name: string | null; secret: string; ttlSeconds: number; limits: IssueLimits; now: Date; origin: RequestOrigin },
): Promise<IssuedChallenge> {
  const { email, now, limits } = args;
  const challengeId = randomUUID();
  const short = generateOtpCode(6);
  const long = generateOtpCode(10);
  const expiresAt = new Date(now.getTime() + args.ttlSeconds * 1000);
  const [row] = await issue.run(db, [
    challengeId, email, canonicalMailbox(email), args.clientKey, args.name,
    hashOtpCode(args.secret, challengeId, short), hashOtpCode(args.secret, challengeId, long), now, expiresAt,
    limits.resendSeconds, limits.maxPerClientHour, limits.maxPerMailboxHour, limits.longCodesAfterFailures,
    args.origin.ip, args.origin.userAgent,
  ]);
  if (!row) throw new Error('issue_otp_challenge returned no row');
  return { challengeId, code: row.code_length === 10 ? long : short, expiresAt, sent: row.sent };
}

/**
 * Undoes a challenge whose email could not be queued, so it does not count against any limit, and
 * its event (`at`: when it was issued), so the account's activity does not show it.
 */
export async function discardChallenge(db: Db, challengeId: string, at: Date): Promise<void> {
  await db.deleteFrom('otp_challenges').where('id', '=', challengeId).execute();
  await db.deleteFrom('auth_events').where('at', '=', at).where('challenge_id', '=', challengeId).execute();
}

// Stands in for a challenge that is not there: the decoy row of migration 0004, and the id the
// code is hashed with, so every path does the same work.
const DECOY_ID = '00000000-0000-0000-0000-000000000000';

// A 6-digit code stops taking guesses once its mailbox has had too many wrong ones today, so
// challenges asked for before the budget ran out cannot be used to go on guessing at 1 in 10^6.
const SHORT_CODE_OPEN = `(c.code_length = 10 or (
  select coalesce(sum(m.attempts), 0) from otp_challenges m where m.mailbox = c.mailbox and m.created_at > $2::timestamptz - interval '1 day'
) < $3)`;

// The challenge a presented id stands for: itself when it was mailed, the same client's mailed
// challenge when it was held back by a limit, none when there is no such challenge (a held-back
// id never takes guesses of its own, so asking again buys no attempts).
// An unknown id reads the decoy challenge (migration 0004: never live) instead, so it costs the
// database what a used one does and its speed cannot tell the two apart. A null id means a
// held-back id with no mailed challenge behind it.
const challengeById = statement<{ id: string | null; code_hash: Buffer; attempts: number; expires_at: Date; consumed_at: Date | null; open: boolean }>(
  'otp-challenge-by-id',
  `select c.id, c.code_hash, c.attempts, c.expires_at, c.consumed_at, (coalesce(c.code_length, 6) = 10 or f.failures < $3) as open
   from otp_challenges p
   left join otp_challenges c on c.id = case when p.suppressed then p.stands_for else p.id end and not c.suppressed
   cross join lateral (
     select coalesce(sum(m.attempts), 0) as failures from otp_challenges m
     where m.mailbox = coalesce(c.mailbox, p.mailbox) and m.created_at > $2::timestamptz - interval '1 day'
   ) f
   where p.id = coalesce((select id from otp_challenges where id = $1), '${DECOY_ID}')`,
);

// Every failure, whatever the challenge, runs this one statement: it counts an attempt when the
// challenge is live and records the failure either way. Doing the same writes on every path keeps
// a wrong guess at a real challenge as slow as a try at an unknown, used or expired one. The
// failure goes to the account of the challenge's address, if any: $1 is always a row (the decoy
// for an unknown id, whose address is no one's), so every path looks up a user the same way.
const recordFailure = statement('record-otp-failure', `
  with counted as (
    update otp_challenges set attempts = attempts + 1
    where id = $1 and consumed_at is null and expires_at > $2 and attempts < $3
  )
  insert into auth_events (at, kind, challenge_id, client_key, user_id, ip, user_agent)
  select $2, 'code_failed', $5, $4, (select u.id from otp_challenges c join users u on u.email = c.email where c.id = $1), $6, $7`);

// The right code, in one statement: consume the challenge if it is still live (the row lock
// makes a second, racing use find it consumed), find or create the user (do update, not do
// nothing, so a user created by a racing transaction is returned too), and start a session with
// its first refresh token, unless the user has an authenticator app: then the session waits for
// the second factor (auth/mfa.ts).
const signIn = statement<SignedIn>('otp-sign-in', `
  with consumed as (
    update otp_challenges c set consumed_at = $2
    where c.id = $1 and not c.suppressed and c.consumed_at is null and c.expires_at > $2 and c.attempts < $7 and ${SHORT_CODE_OPEN}
    returning c.email, c.name
  ), signed_in as (
    insert into users (email, name) select email, name from consumed
    on conflict (email) do update set email = excluded.email
    returning id, email, name, created_at, updated_at
  ), mfa as (
    select exists (select 1 from user_totp t join signed_in u on u.id = t.user_id where t.confirmed_at is not null) as required
  ), session as (
    insert into sessions (id, user_id, created_at, expires_at, last_used_at, ip, user_agent)
    select $4, id, $2, $5, $2, $9, $10 from signed_in where not (select required from mfa)
    returning id
  ), refresh as (
    insert into refresh_tokens (session_id, token_hash, created_at) select id, $6, $2 from session
  ), verified as (
    insert into auth_events (at, kind, challenge_id, client_key, user_id, session_id, ip, user_agent)
    select $2, 'code_verified', $1, $8, id, (select id from session), $9, $10 from signed_in
  )
  select id, email, name, created_at, updated_at, (select required from mfa) as mfa_required from signed_in`);

/** A user whose code was right; with `mfa_required` no session was started. */
export type SignedIn = User & { mfa_required: boolean };


/**
 * Checks `code` against the challenge `challengeId`: only whoever asked for the code holds its
 * id, so only they can spend its attempts. A wrong code counts an attempt; the right one consumes
 * the challenge and signs the user in: its user (created on first sign-in) and a new session
 * whose first refresh token is `session.refreshTokenHash` (none when the user has MFA on:
 * `mfa_required`). Wrong, expired, used, exhausted and unknown all look the same to the caller: null.
 */
export async function signInWithCode(
  db: Db,
  args: {
    challengeId: string; clientKey: string; code: string; secret: string; maxAttempts: number; now: Date;
    /** Recorded on the session and in the account's activity. */
    origin: RequestOrigin;
    /** Wrong guesses per mailbox per day after which its 6-digit codes take no more guesses. */
    shortCodeFailureBudget: number;
    session: { id: string; expiresAt: Date; refreshTokenHash: Buffer };
  },
): Promise<SignedIn | null> {
  const { now, maxAttempts, challengeId, shortCodeFailureBudget: budget } = args;
  const [row] = await challengeById.run(db, [challengeId, now, budget]);
  const challenge = row?.id ? { ...row, id: row.id } : undefined;
  const candidate = hashOtpCode(args.secret, challenge?.id ?? DECOY_ID, args.code);
  const live = !!challenge && challenge.open && challenge.consumed_at === null && challenge.expires_at > now && challenge.attempts < maxAttempts;
  if (!live || !digestsEqual(candidate, challenge.code_hash)) {
    // Counted on the challenge that takes the guesses (the decoy for an unknown id, never live);
    // for a held-back id without one, on itself (never live either). Recorded under the id given.
    await recordFailure.run(db, [challenge?.id ?? challengeId, now, maxAttempts, args.clientKey, challengeId, args.origin.ip, args.origin.userAgent]);
    return null;
  }
  const { session } = args;
  const [user] = await signIn.run(db, [
    challenge.id, now, budget, session.id, session.expiresAt, session.refreshTokenHash, maxAttempts, args.clientKey, args.origin.ip, args.origin.userAgent,
  ]);
  return user ?? null;
}
