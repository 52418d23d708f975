import { UnrecoverableError, type Job } from 'bullmq';
import { unseal, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { findDelivery, recordAttempt, recordOutcome } from '../deliveries.ts';
import { renderOtpMessage } from '../mail/otp-message.ts';
import { describeSmtpFailure, isPermanentSmtpFailure } from '../mail/transport.ts';

type OtpJob = JobData<'email', 'otp'>;

/** Why a code is not worth sending any more, or null when it still is. */
async function staleReason(db: Deps['db'], challenge: { id: string; email: string; created_at: Date; expires_at: Date; consumed_at: Date | null }, now: Date) {
  if (challenge.consumed_at) return 'code already used';
  if (challenge.expires_at <= now) return 'code expired before it could be sent';
  const newer = await db.selectFrom('otp_challenges').select('id').where('email', '=', challenge.email)
    .where('created_at', '>', challenge.created_at).limit(1).executeTakeFirst();
  return newer ? 'a newer code replaced this one' : null;
}

/**
 * Delivers a sign-in code. Checks the recorded state first, so a re-run of a delivered job, or
 * a code that is used, expired or superseded, sends nothing.
 */
export function processOtpEmail({ db, transport, config, clock, logger }: Deps) {
  return async (job: Job, data: OtpJob): Promise<{ status: string }> => {
    const jobId = job.id ?? `otp-${data.challengeId}`;
    const prior = await findDelivery(db, jobId);
    if (prior?.status === 'sent' || prior?.status === 'skipped') return { status: prior.status };

    const challenge = await db.selectFrom('otp_challenges').select(['id', 'email', 'created_at', 'expires_at', 'consumed_at'])
      .where('id', '=', data.challengeId).executeTakeFirst();
    if (!challenge) {
      await recordOutcome(db, { jobId, kind: 'otp', recipient: '', status: 'skipped', lastError: 'challenge no longer exists' });
      return { status: 'skipped' };
    }
    const base = { jobId, kind: 'otp', recipient: challenge.email };
    const stale = await staleReason(db, challenge, clock.now());
    if (stale) {
      await recordOutcome(db, { ...base, status: 'skipped', lastError: stale });
      logger.info({ jobId, reason: stale }, 'otp email skipped');
      return { status: 'skipped' };
    }

    let code: string;
    try {
      code = unseal(config.jobEncryptionKey, data.sealedCode, data.challengeId);
    } catch {
      await recordOutcome(db, { ...base, status: 'failed', lastError: 'sealed code does not open with this key' });
      throw new UnrecoverableError('sealed code does not open with this key');
    }

    const message = renderOtpMessage({ code, requestedAt: challenge.created_at, expiresAt: challenge.expires_at });
    await recordAttempt(db, base);
    try {
      const info = (await transport.sendMail({ from: config.smtp.from, to: challenge.email, ...message })) as { messageId?: string };
      await recordOutcome(db, { ...base, status: 'sent', messageId: info.messageId ?? null });
      return { status: 'sent' };
    } catch (err) {
      const permanent = isPermanentSmtpFailure(err);
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const reason = describeSmtpFailure(err);
      await recordOutcome(db, { ...base, status: permanent || lastAttempt ? 'failed' : 'retrying', lastError: reason });
      throw permanent ? new UnrecoverableError(`permanent SMTP failure: ${reason}`) : err;
    }
  };
}
