import { sql } from 'kysely';
import type { Db, DeliveryStatus, EmailDelivery } from '@cheershare/shared';

export async function findDelivery(db: Db, jobId: string): Promise<EmailDelivery | undefined> {
  return db.selectFrom('email_deliveries').selectAll().where('job_id', '=', jobId).executeTakeFirst();
}

/** Records that an SMTP attempt starts now: one row per job, attempts counted. */
export async function recordAttempt(db: Db, args: { jobId: string; kind: string; recipient: string }): Promise<void> {
  await db.insertInto('email_deliveries')
    .values({ job_id: args.jobId, kind: args.kind, recipient: args.recipient, status: 'sending', attempts: 1 })
    .onConflict((oc) => oc.column('job_id').doUpdateSet({
      status: 'sending',
      attempts: sql`email_deliveries.attempts + 1`,
      updated_at: sql`now()`,
    }))
    .execute();
}

/** Records the outcome of a job: sent, retrying, failed or skipped (with why). */
export async function recordOutcome(
  db: Db,
  args: { jobId: string; kind: string; recipient: string; status: DeliveryStatus; lastError?: string | null; messageId?: string | null },
): Promise<void> {
  // Fields left undefined keep their value, so a sent row still shows the error it recovered from.
  const values = {
    status: args.status,
    ...(args.lastError !== undefined && { last_error: args.lastError }),
    ...(args.messageId !== undefined && { message_id: args.messageId }),
  };
  await db.insertInto('email_deliveries')
    .values({ job_id: args.jobId, kind: args.kind, recipient: args.recipient, ...values })
    .onConflict((oc) => oc.column('job_id').doUpdateSet({ ...values, updated_at: sql`now()` }))
    .execute();
}
