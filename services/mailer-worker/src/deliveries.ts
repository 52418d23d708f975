import { statement, type Db, type DeliveryStatus } from '@cheershare/shared';

// Every email job runs these, so they are prepared statements rather than built per call.
const priorStatus = statement<{ status: DeliveryStatus }>('delivery-status', 'select status from email_deliveries where job_id = $1');

const claimStatement = statement<{ outcome: Claim['outcome']; lease_until: Date | null; attempts: number; uncertain_sends: number }>(
  'delivery-claim', 'select * from claim_email_delivery($1, $2, $3, $4)');

const renewStatement = statement('delivery-renew', `
  update email_deliveries set lease_until = clock_timestamp() + make_interval(secs => $2::integer / 1000.0)
  where job_id = $1 and status = 'sending'`);

// $6 and $7 say whether last_error and message_id were given: a field not given keeps its value,
// so a sent row still shows the error it recovered from. $9 adds uncertain sends. A row already
// `sent` stays sent: a late outcome of a run that lost its claim never hides a delivery.
const outcome = statement('delivery-outcome', `
  insert into email_deliveries (job_id, kind, recipient, status, last_error, message_id, uncertain_sends) values ($1, $2, $3, $4, $5, $8, $9)
  on conflict (job_id) do update set
    status = excluded.status,
    last_error = case when $6::boolean then excluded.last_error else email_deliveries.last_error end,
    message_id = case when $7::boolean then excluded.message_id else email_deliveries.message_id end,
    uncertain_sends = email_deliveries.uncertain_sends + $9,
    lease_until = null,
    updated_at = now()
  where email_deliveries.status <> 'sent' or excluded.status = 'sent'`);

/** The recorded status of a job's delivery, if it has one. */
export async function findDelivery(db: Db, jobId: string): Promise<{ status: DeliveryStatus } | undefined> {
  return (await priorStatus.run(db, [jobId]))[0];
}

/**
 * What claiming a delivery found: `claimed` (send now; also a job an operator retried after it
 * failed), `abandoned` (send now, but a run before this one died mid-send: counted in
 * `uncertain_sends`), `busy` (another run holds a live claim until `leaseUntil`), or the final
 * status already recorded.
 */
export interface Claim {
  outcome: 'claimed' | 'abandoned' | 'busy' | 'sent' | 'skipped' | 'uncertain';
  leaseUntil: Date | null;
  attempts: number;
}

/** Claims a job's delivery for `leaseMs` before SMTP (see migration 0005). */
export async function claimDelivery(db: Db, args: { jobId: string; kind: string; recipient: string; leaseMs: number }): Promise<Claim> {
  const [row] = await claimStatement.run(db, [args.jobId, args.kind, args.recipient, args.leaseMs]);
  if (!row) throw new Error(`claim_email_delivery returned nothing for ${args.jobId}`);
  return { outcome: row.outcome, leaseUntil: row.lease_until, attempts: row.attempts };
}

/** Extends a claim this run holds while it is still sending. */
export async function renewClaim(db: Db, jobId: string, leaseMs: number): Promise<void> {
  await renewStatement.run(db, [jobId, leaseMs]);
}

/** Records the outcome of a job: sent, retrying, failed, skipped or uncertain (with why). */
export async function recordOutcome(
  db: Db,
  args: { jobId: string; kind: string; recipient: string; status: DeliveryStatus; lastError?: string | null; messageId?: string | null; uncertain?: boolean },
): Promise<void> {
  await outcome.run(db, [
    args.jobId, args.kind, args.recipient, args.status, args.lastError ?? null,
    args.lastError !== undefined, args.messageId !== undefined, args.messageId ?? null, args.uncertain ? 1 : 0,
  ]);
}
