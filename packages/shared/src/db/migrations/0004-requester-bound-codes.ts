import { sql, type Kysely } from 'kysely';

/**
 * Codes bound to their requester, limits per client and per mailbox, longer codes instead of a
 * lockout (issue 9).
 *
 * - `mailbox` is the canonical form of the address (sub-address tag removed, dots removed where
 *   the provider ignores them): send limits apply to it, so victim+1@ and victim+2@ share one.
 * - `client_key` is the requesting client (IP, IPv6 grouped by /64): the resend delay and the
 *   hourly count apply per mailbox and client, so a stranger cannot spend the owner's budget; a
 *   higher hourly cap per mailbox across all clients bounds mail bombing from many addresses.
 * - A request over a mailbox limit still gets a challenge, marked `suppressed` and never mailed,
 *   so the answer (and the work behind it) is the same whatever the address's history. It
 *   `stands_for` the same client's newest live mailed challenge of that mailbox, if any: an honest
 *   resend within the delay gets a new id, and the code already in the inbox works with it (on
 *   the mailed challenge's attempts). Without one it takes no code at all.
 * - `code_length` is 10 instead of 6 once the mailbox has had too many wrong guesses in a day.
 * - `auth_events` records every failed code, whatever the challenge: a wrong guess at a live
 *   challenge and a try at an unknown, used or expired one do the same writes, so their timing
 *   cannot tell them apart. (The account activity log grows from it.)
 */
const issueOtpChallenge = sql`
create function issue_otp_challenge(
  p_id uuid, p_email text, p_mailbox text, p_client_key text, p_name text,
  p_short_code_hash bytea, p_long_code_hash bytea, p_now timestamptz, p_expires_at timestamptz,
  p_resend_seconds integer, p_max_per_client_hour integer, p_max_per_mailbox_hour integer, p_long_codes_after_failures integer
) returns table (sent boolean, code_length integer)
language plpgsql volatile as $$
declare
  v_newest_from_client timestamptz;
  v_client_hour integer;
  v_mailbox_hour integer;
  v_failed integer;
  v_sent boolean;
  v_length integer;
  v_stands_for uuid;
begin
  -- Serialise requests for one mailbox so racing requests cannot both pass the limits. In READ
  -- COMMITTED each statement below takes a fresh snapshot, so it sees what the previous holder
  -- committed.
  perform pg_advisory_xact_lock(hashtextextended(p_mailbox, 0));
  select max(created_at) filter (where not suppressed and client_key = p_client_key),
         count(*) filter (where not suppressed and client_key = p_client_key and created_at > p_now - interval '1 hour'),
         count(*) filter (where not suppressed and created_at > p_now - interval '1 hour'),
         coalesce(sum(attempts), 0)
    into v_newest_from_client, v_client_hour, v_mailbox_hour, v_failed
    from otp_challenges
   where mailbox = p_mailbox and created_at > p_now - interval '1 day';

  v_sent := not (
    (v_newest_from_client is not null and p_now < v_newest_from_client + make_interval(secs => p_resend_seconds))
    or v_client_hour >= p_max_per_client_hour
    or v_mailbox_hour >= p_max_per_mailbox_hour
  );
  v_length := case when v_failed >= p_long_codes_after_failures then 10 else 6 end;
  -- Looked up whether or not it is needed, so a held-back request costs what a mailed one does.
  select id into v_stands_for from otp_challenges
   where mailbox = p_mailbox and client_key = p_client_key and not suppressed and consumed_at is null and expires_at > p_now
   order by created_at desc limit 1;
  insert into otp_challenges (id, email, mailbox, client_key, name, code_hash, code_length, suppressed, stands_for, created_at, expires_at)
  values (p_id, p_email, p_mailbox, p_client_key, p_name,
          case when v_length = 10 then p_long_code_hash else p_short_code_hash end,
          v_length, not v_sent, case when v_sent then null else v_stands_for end, p_now, p_expires_at);
  return query select v_sent, v_length;
end
$$`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists issue_otp_challenge(uuid, text, text, bytea, timestamptz, timestamptz, integer, integer, integer)`.execute(db);
  await db.schema.alterTable('otp_challenges')
    .addColumn('mailbox', 'text')
    .addColumn('client_key', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('code_length', 'smallint', (c) => c.notNull().defaultTo(6))
    .addColumn('suppressed', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('stands_for', 'uuid')
    .execute();
  // Challenges live minutes and their history a day: the address as typed is close enough for
  // rows made before this migration.
  await sql`update otp_challenges set mailbox = email where mailbox is null`.execute(db);
  await db.schema.alterTable('otp_challenges').alterColumn('mailbox', (c) => c.setNotNull()).execute();
  await db.schema.dropIndex('otp_challenges_email_created_idx').execute();
  await db.schema.createIndex('otp_challenges_mailbox_created_idx').on('otp_challenges').columns(['mailbox', 'created_at']).execute();
  await issueOtpChallenge.execute(db);
  await db.schema.createTable('auth_events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('challenge_id', 'uuid')
    .addColumn('client_key', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.createIndex('auth_events_at_idx').on('auth_events').column('at').execute();
  // The decoy /verify reads and updates in place of an unknown challenge id, so that an unknown id
  // costs the database what a used one does. Never live (consumed), in a mailbox no address maps
  // to (''), and dated 'infinity' so cleanup (older than a day) never removes it.
  await sql`insert into otp_challenges (id, email, mailbox, code_hash, created_at, expires_at, consumed_at)
            values ('00000000-0000-0000-0000-000000000000', '', '', '\\x00', 'infinity', '-infinity', '-infinity')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('auth_events').ifExists().execute();
  await sql`delete from otp_challenges where id = '00000000-0000-0000-0000-000000000000'`.execute(db);
  await sql`drop function if exists issue_otp_challenge(uuid, text, text, text, text, bytea, bytea, timestamptz, timestamptz, integer, integer, integer, integer)`.execute(db);
  await db.schema.dropIndex('otp_challenges_mailbox_created_idx').ifExists().execute();
  await db.schema.createIndex('otp_challenges_email_created_idx').on('otp_challenges').columns(['email', 'created_at']).execute();
  await db.schema.alterTable('otp_challenges').dropColumn('mailbox').dropColumn('client_key').dropColumn('code_length').dropColumn('suppressed').dropColumn('stands_for').execute();
}
