import { sql, type Kysely } from 'kysely';

/**
 * Delivery claims (issue 10): at most once to the inbox, and every uncertain send recorded.
 *
 * - A run of an email job claims its delivery row before SMTP: status `sending` with a lease
 *   (`lease_until`) that the running mailer renews while it talks to the server. A second run of
 *   the same job (a stalled job handed to another worker) finds a live claim and does not send.
 * - A claim whose lease ran out while still `sending` was left by a run that died mid-send: the
 *   server may have the message. Taking it over counts an uncertain send (`uncertain_sends`).
 * - `uncertain` is the final status of a kind that is not sent again after an uncertain send
 *   (the digests); a sign-in code is sent again, and its `uncertain_sends` records the possible
 *   second copy.
 */
const claimDelivery = sql`
create function claim_email_delivery(p_job_id text, p_kind text, p_recipient text, p_lease_ms integer)
returns table (outcome text, lease_until timestamptz, attempts integer, uncertain_sends integer)
language plpgsql volatile as $$
declare
  v_row email_deliveries%rowtype;
begin
  insert into email_deliveries as d (job_id, kind, recipient, status, attempts, lease_until)
  values (p_job_id, p_kind, p_recipient, 'sending', 1, clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0))
  on conflict (job_id) do nothing;
  if found then
    return query select 'claimed'::text, d.lease_until, d.attempts, d.uncertain_sends from email_deliveries d where d.job_id = p_job_id;
    return;
  end if;

  -- The row exists: lock it, so two runs racing for it decide one after the other.
  select * into v_row from email_deliveries d where d.job_id = p_job_id for update;
  -- 'failed' is final for the job's own attempts, but a job that runs again after failing was
  -- retried by an operator (Bull Board): it is claimed and sent like a retry.
  if v_row.status in ('sent', 'skipped', 'uncertain') then
    return query select v_row.status, v_row.lease_until, v_row.attempts, v_row.uncertain_sends;
    return;
  end if;
  if v_row.status = 'sending' and v_row.lease_until > clock_timestamp() then
    return query select 'busy'::text, v_row.lease_until, v_row.attempts, v_row.uncertain_sends;
    return;
  end if;

  -- 'retrying' or 'failed', or 'sending' with its lease run out (rows from before this migration have none).
  update email_deliveries d set
    status = 'sending',
    recipient = p_recipient,
    attempts = d.attempts + 1,
    uncertain_sends = d.uncertain_sends + case when v_row.status = 'sending' then 1 else 0 end,
    lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0),
    updated_at = now()
  where d.job_id = p_job_id;
  return query select case when v_row.status = 'sending' then 'abandoned' else 'claimed' end,
    d.lease_until, d.attempts, d.uncertain_sends from email_deliveries d where d.job_id = p_job_id;
end;
$$`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('email_deliveries')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('uncertain_sends', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`alter table email_deliveries drop constraint email_deliveries_status_check`.execute(db);
  await sql`alter table email_deliveries add constraint email_deliveries_status_check
            check (status in ('sending', 'sent', 'retrying', 'failed', 'skipped', 'uncertain'))`.execute(db);
  await claimDelivery.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists claim_email_delivery(text, text, text, integer)`.execute(db);
  await sql`update email_deliveries set status = 'failed' where status = 'uncertain'`.execute(db);
  await sql`alter table email_deliveries drop constraint email_deliveries_status_check`.execute(db);
  await sql`alter table email_deliveries add constraint email_deliveries_status_check
            check (status in ('sending', 'sent', 'retrying', 'failed', 'skipped'))`.execute(db);
  await db.schema.alterTable('email_deliveries').dropColumn('lease_until').dropColumn('uncertain_sends').execute();
}
