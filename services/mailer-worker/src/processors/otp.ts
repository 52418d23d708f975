import type { Job } from 'bullmq';
import { unseal, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { renderOtpMessage } from '../mail/otp-message.ts';
import { deliverOnce, type Outcome, type Plan } from '../send.ts';

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
export function processOtpEmail(deps: Deps) {
  const { db, config, clock } = deps;
  return async (job: Job, data: OtpJob): Promise<Outcome> => {
    const jobId = job.id ?? `otp-${data.challengeId}`;
    return deliverOnce(deps, job, { jobId, kind: 'otp' }, async (): Promise<Plan> => {
      const challenge = await db.selectFrom('otp_challenges').select(['id', 'email', 'created_at', 'expires_at', 'consumed_at'])
        .where('id', '=', data.challengeId).executeTakeFirst();
      if (!challenge) return { recipient: '', skip: 'challenge no longer exists' };
      const recipient = challenge.email;
      const stale = await staleReason(db, challenge, clock.now());
      if (stale) return { recipient, skip: stale };

      let code: string;
      try {
        code = unseal(config.jobEncryptionKey, data.sealedCode, data.challengeId);
      } catch {
        return { recipient, fail: 'sealed code does not open with this key' };
      }
      return { recipient, message: renderOtpMessage({ code, requestedAt: challenge.created_at, expiresAt: challenge.expires_at }) };
    });
  };
}
