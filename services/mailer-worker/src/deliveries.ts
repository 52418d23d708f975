import { statement, type Db, type DeliveryStatus } from '@cheershare/shared';

// Every email job runs these, so they are prepared statements rather than built per call.
const priorStatus = statement<{ status: DeliveryStatus }>('delivery-status', 'select status from email_deliveries where job_id = $1');

const attempt = statement('delivery-attempt', `
  insert into email_deliveries (job_id, kind, recipient, status, attempts) values ($1, $2, $3, 'sending', 1)
  on conflict (job_id) do update set status = 'sending', attempts = email_deliveries.attempts + 1, updated_at = now()`);

// $6 and $7 say whether last_error and message_id were given: a field not given keeps its value,
// so a sent row still shows the error it recovered from.
const outcome = statement('delivery-outcome', `
  insert into email_deliveries (job_id, kind, recipient, status, last_error, message_id) values ($1, $2, $3, $4, $5, $8)
  on conflict (job_id) do update set
    status = excluded.status,
    last_error = case when $6::boolean then excluded.last_error else email_deliveries.last_error end,
    message_id = case when $7::boolean then excluded.message_id else email_deliveries.message_id end,
    updated_at = now()`);

/** The recorded status of a job's delivery, if it has one. */
export async function findDelivery(db: Db, jobId: string): Promise<{ status: DeliveryStatus } | undefined> {
  return (await priorStatus.run(db, [jobId]))[0];
}

/** Records that an SMTP attempt starts now: one row per job, attempts counted. */
export async function recordAttempt(db: Db, args: { jobId: string; kind: string; recipient: string }): Promise<void> {
  await attempt.run(db, [args.jobId, args.kind, args.recipient]);
}

/** Records the outcome of a job: sent, retrying, failed or skipped (with why). */
export async function recordOutcome(
  db: Db,
  args: { jobId: string; kind: string; recipient: string; status: DeliveryStatus; lastError?: string | null; messageId?: string | null },
): Promise<void> {
  await outcome.run(db, [
    args.jobId, args.kind, args.recipient, args.status, args.lastError ?? null,
    args.lastError !== undefined, args.messageId !== undefined, args.messageId ?? null,
  ]);
}
