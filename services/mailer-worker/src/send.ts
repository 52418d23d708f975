import { UnrecoverableError, type Job } from 'bullmq';
import type { Deps } from './deps.ts';
import { findDelivery, recordAttempt, recordOutcome } from './deliveries.ts';
import { describeSmtpFailure, isPermanentSmtpFailure } from './mail/transport.ts';

import type { Message } from './mail/message.ts';

/**
 * What a processor decided after reading the database: send a message, skip (nothing worth
 * sending any more) or fail for good. `recipient` is '' when there is nobody to name.
 */
export type Plan =
  | { recipient: string; message: Message }
  | { recipient: string; skip: string }
  | { recipient: string; fail: string };

export interface Outcome {
  status: 'sent' | 'skipped';
}

/**
 * Runs one email job with the delivery discipline every kind shares: a job whose delivery is
 * already recorded as sent or skipped does nothing; otherwise `plan` (read-only) decides from the current state,
 * the attempt is recorded before SMTP and the outcome after. A 5xx (or a message nodemailer
 * refuses) fails at once; network trouble and 4xx are rethrown for BullMQ to retry.
 */
export async function deliverOnce(
  { db, transport, config, logger, metrics }: Pick<Deps, 'db' | 'transport' | 'config' | 'logger' | 'metrics'>,
  job: Job,
  delivery: { jobId: string; kind: string },
  plan: () => Promise<Plan>,
): Promise<Outcome> {
  const { jobId, kind } = delivery;
  // Both only read, so they run side by side; a plan made for a job already done is dropped.
  const [prior, decided] = await Promise.all([findDelivery(db, jobId), plan()]);
  if (prior?.status === 'sent' || prior?.status === 'skipped') return { status: prior.status };

  const base = { jobId, kind, recipient: decided.recipient };
  if ('skip' in decided) {
    await recordOutcome(db, { ...base, status: 'skipped', lastError: decided.skip });
    logger.info({ jobId, kind, reason: decided.skip }, 'email skipped');
    metrics.emails.inc({ kind, outcome: 'skipped' });
    return { status: 'skipped' };
  }
  if ('fail' in decided) {
    await recordOutcome(db, { ...base, status: 'failed', lastError: decided.fail });
    metrics.emails.inc({ kind, outcome: 'failed' });
    throw new UnrecoverableError(decided.fail);
  }

  await recordAttempt(db, base);
  try {
    // Only these fields reach nodemailer: headers other than the fixed subject are never built from data.
    const { subject, text, html } = decided.message;
    const info = (await transport.sendMail({ from: config.smtp.from, to: decided.recipient, subject, text, html })) as { messageId?: string };
    await recordOutcome(db, { ...base, status: 'sent', messageId: info.messageId ?? null });
    metrics.emails.inc({ kind, outcome: 'sent' });
    return { status: 'sent' };
  } catch (err) {
    const permanent = isPermanentSmtpFailure(err);
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const reason = describeSmtpFailure(err);
    await recordOutcome(db, { ...base, status: permanent || lastAttempt ? 'failed' : 'retrying', lastError: reason });
    metrics.emails.inc({ kind, outcome: permanent || lastAttempt ? 'failed' : 'retried' });
    throw permanent ? new UnrecoverableError(`permanent SMTP failure: ${reason}`) : err;
  }
}
