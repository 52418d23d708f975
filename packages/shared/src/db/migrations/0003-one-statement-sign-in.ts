import { sql, type Kysely } from 'kysely';

/**
 * Issuing a code in one round trip. The per-email limits must be checked and the challenge
 * inserted under one lock, so two racing requests cannot both pass them; as a transaction from
 * the API that took five round trips (begin, lock, read, insert, commit), which made the code
 * request the slowest call of the API. This function does the same work inside PostgreSQL, called
 * as one statement. In READ COMMITTED each statement of a volatile PL/pgSQL function takes a fresh
 * snapshot, so the read after the lock sees everything the previous holder committed.
 *
 * Returns one row: (null, null) when the challenge was inserted, else the refusal and the seconds
 * until a code may be asked for again.
 */
const issueOtpChallenge = sql`
create function issue_otp_challenge(
  p_id uuid, p_email text, p_name text, p_code_hash bytea, p_now timestamptz, p_expires_at timestamptz,
  p_resend_seconds integer, p_max_per_hour integer, p_max_failed_per_day integer
) returns table (refusal text, retry_after_seconds integer)
language plpgsql volatile as $$
declare
  v_newest timestamptz;
  v_hour_count integer;
  v_hour_oldest timestamptz;
  v_failed integer;
  v_until timestamptz;
begin
  perform pg_advisory_xact_lock(hashtextextended(p_email, 0));
  select max(created_at),
         count(*) filter (where created_at > p_now - interval '1 hour'),
         min(created_at) filter (where created_at > p_now - interval '1 hour'),
         coalesce(sum(attempts), 0)
    into v_newest, v_hour_count, v_hour_oldest, v_failed
    from otp_challenges
   where email = p_email and created_at > p_now - interval '1 day';

  if v_newest is not null and p_now < v_newest + make_interval(secs => p_resend_seconds) then
    v_until := v_newest + make_interval(secs => p_resend_seconds);
    return query select 'resend_too_soon'::text, greatest(1, ceil(extract(epoch from v_until - p_now)))::integer;
    return;
  end if;
  if v_hour_count >= p_max_per_hour then
    v_until := v_hour_oldest + interval '1 hour';
    return query select 'too_many_codes'::text, greatest(1, ceil(extract(epoch from v_until - p_now)))::integer;
    return;
  end if;
  -- Every code has its own attempts, so without this a patient attacker would get more guesses
  -- per code for ever. Wrong guesses are counted per email over a day, whoever asks; the refusal
  -- lasts until enough of them are a day old.
  if v_failed >= p_max_failed_per_day then
    select h.created_at + interval '1 day' into v_until
      from (select created_at, v_failed - sum(attempts) over (order by created_at, id) as left_after
              from otp_challenges
             where email = p_email and created_at > p_now - interval '1 day') h
     where h.left_after < p_max_failed_per_day
     order by h.created_at
     limit 1;
    return query select 'too_many_failures'::text, greatest(1, ceil(extract(epoch from v_until - p_now)))::integer;
    return;
  end if;

  insert into otp_challenges (id, email, name, code_hash, created_at, expires_at)
  values (p_id, p_email, p_name, p_code_hash, p_now, p_expires_at);
  return query select null::text, null::integer;
end
$$`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await issueOtpChallenge.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists issue_otp_challenge(uuid, text, text, bytea, timestamptz, timestamptz, integer, integer, integer)`.execute(db);
}
