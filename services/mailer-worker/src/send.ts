import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Deps } from './deps.ts';
import { claimDelivery, findDelivery, recordOutcome, renewClaim } from './deliveries.ts';
import { describeSmtpFailure, isPermanentSmtpFailure, isUncertainSmtpFailure } from './mail/transport.ts';

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
  status: 'sent' | 'skipped' | 'uncertain';
}

/**
 * What to do after a send whose outcome is unknown (the server may have the message):
 * `resend` sends again, so a second copy is possible and recorded (a sign-in code: the same code
 * twice is harmless, none at all locks the user out); `once` records `uncertain` and stops (a
 * digest: a second copy is worse than a missing one).
 */
export type UncertainPolicy = 'resend' | 'once';

type Pieces = Pick<Deps, 'db' | 'transport' | 'config' | 'logger' | 'metrics'>;

// The job's progress carries this once SMTP accepted the message, so a run after a database
// failure records the delivery instead of sending it again. It lives in the queue store, not in
// PostgreSQL, so it survives exactly the failure it is for.
interface SentMarker { sentMessageId: string | null }

function sentMarkerOf(job: Job): SentMarker | undefined {
  const progress = job.progress as unknown;
  return progress && typeof progress === 'object' && 'sentMessageId' in progress ? progress as SentMarker : undefined;
}

/** Writes an outcome, retrying briefly: a reset connection must not turn a sent code into a resend. */
async function recordPersistently(db: Deps['db'], logger: Deps['logger'], args: Parameters<typeof recordOutcome>[1]): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await recordOutcome(db, args);
      return;
    } catch (err) {
      if (attempt >= 6) throw err;
      logger.warn({ jobId: args.jobId, status: args.status, attempt, error: (err as Error).message }, 'could not record a delivery outcome, retrying');
      await sleep(250 * 2 ** attempt);
    }
  }
}

/** Waits until another run's live claim ends: it records an outcome, or its lease runs out. */
async function waitForClaim(db: Deps['db'], jobId: string, leaseUntil: Date | null, leaseMs: number): Promise<void> {
  const deadline = Math.min(leaseUntil?.getTime() ?? Date.now(), Date.now() + leaseMs) + 100;
  while (Date.now() < deadline) {
    await sleep(Math.min(500, Math.max(deadline - Date.now(), 10)));
    if ((await findDelivery(db, jobId))?.status !== 'sending') return;
  }
}

/**
 * Runs one email job with the delivery discipline every kind shares (see docs/reliability.md):
 * - a job whose delivery is recorded as done does nothing; `plan` (read-only) decides from the
 *   current state whether to send, skip or fail;
 * - the delivery is claimed with a lease before SMTP and the lease renewed while SMTP runs, so a
 *   second run of the job (a stalled job handed to another worker) waits instead of sending;
 * - a claim left by a run that died mid-send, and a connection lost mid-session, are uncertain
 *   sends: counted, recorded, and handled by the kind's `uncertain` policy;
 * - once the server accepted the message, a database failure never causes a resend;
 * - a 5xx (or a message nodemailer refuses) fails at once; 4xx and failures to connect are
 *   rethrown for BullMQ to retry.
 */
export async function deliverOnce(
  { db, transport, config, logger, metrics }: Pieces,
  job: Job,
  delivery: { jobId: string; kind: string; uncertain: UncertainPolicy },
  plan: () => Promise<Plan>,
): Promise<Outcome> {
  const { jobId, kind } = delivery;
  const leaseMs = config.deliveryLeaseMs;
  // Both only read, so they run side by side; a plan made for a job already done is dropped.
  const [prior, decided] = await Promise.all([findDelivery(db, jobId), plan()]);
  if (prior?.status === 'sent' || prior?.status === 'skipped' || prior?.status === 'uncertain') return { status: prior.status };

  const base = { jobId, kind, recipient: decided.recipient };
  const marker = sentMarkerOf(job);
  if (marker) {
    await recordPersistently(db, logger, { ...base, status: 'sent', messageId: marker.sentMessageId });
    return { status: 'sent' };
  }
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

  for (;;) {
    const claim = await claimDelivery(db, { ...base, leaseMs });
    if (claim.outcome === 'busy') {
      logger.info({ jobId, kind, leaseUntil: claim.leaseUntil }, 'another run is sending this email; waiting for its outcome');
      await waitForClaim(db, jobId, claim.leaseUntil, leaseMs);
      continue;
    }
    if (claim.outcome === 'sent' || claim.outcome === 'skipped' || claim.outcome === 'uncertain') return { status: claim.outcome };
    if (claim.outcome === 'abandoned') {
      // A run died between claiming and recording: the server may have the message.
      metrics.emails.inc({ kind, outcome: 'uncertain' });
      logger.warn({ jobId, kind, policy: delivery.uncertain }, 'a previous run died mid-send; the recipient may already have this email');
      if (delivery.uncertain === 'once') {
        await recordOutcome(db, { ...base, status: 'uncertain', lastError: 'the mailer stopped mid-send; not sent again' });
        return { status: 'uncertain' };
      }
    }
    break;
  }

  // Renewed while SMTP runs, so only a run that stopped renewing (died, or lost the database) lets
  // its claim lapse.
  const renewal = setInterval(() => {
    renewClaim(db, jobId, leaseMs).catch((err: unknown) => logger.warn({ jobId, error: (err as Error).message }, 'could not renew a delivery claim'));
  }, Math.max(250, Math.floor(leaseMs / 4)));
  let info: { messageId?: string };
  try {
    // Only these fields reach nodemailer: headers other than the fixed subject are never built from data.
    const { subject, text, html } = decided.message;
    info = await transport.sendMail({ from: config.smtp.from, to: decided.recipient, subject, text, html });
  } catch (err) {
    clearInterval(renewal);
    return await recordFailure(err);
  }
  clearInterval(renewal);

  // The server has the message. Mark the job first (queue store), then the row (PostgreSQL): a
  // failure of either still never sends it again.
  metrics.emails.inc({ kind, outcome: 'sent' });
  await job.updateProgress({ sentMessageId: info.messageId ?? null } satisfies SentMarker).catch((err: unknown) =>
    logger.warn({ jobId, error: (err as Error).message }, 'could not mark the job as sent'));
  await recordPersistently(db, logger, { ...base, status: 'sent', messageId: info.messageId ?? null });
  return { status: 'sent' };

  async function recordFailure(err: unknown): Promise<Outcome> {
    const reason = describeSmtpFailure(err);
    if (isUncertainSmtpFailure(err)) {
      metrics.emails.inc({ kind, outcome: 'uncertain' });
      logger.warn({ jobId, kind, reason, policy: delivery.uncertain }, 'connection lost mid-send; the server may have the email');
      if (delivery.uncertain === 'once') {
        await recordPersistently(db, logger, { ...base, status: 'uncertain', lastError: `${reason} (not sent again)`, uncertain: true });
        return { status: 'uncertain' };
      }
    }
    const permanent = isPermanentSmtpFailure(err);
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    await recordPersistently(db, logger, {
      ...base, status: permanent || lastAttempt ? 'failed' : 'retrying', lastError: reason, uncertain: isUncertainSmtpFailure(err),
    });
    if (!isUncertainSmtpFailure(err)) metrics.emails.inc({ kind, outcome: permanent || lastAttempt ? 'failed' : 'retried' });
    throw permanent ? new UnrecoverableError(`permanent SMTP failure: ${reason}`) : err;
  }
}
