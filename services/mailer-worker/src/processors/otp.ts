import type { Job } from 'bullmq';
import { statement, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { renderOtpMessage } from '../mail/otp-message.ts';
import { deliverOnce, type Outcome, type Plan } from '../send.ts';

type OtpJob = JobData<'email', 'otp'>;

const challengeOf = statement<{ email: string; created_at: Date; expires_at: Date; consumed_at: Date | null; suppressed: boolean }>('otp-email-challenge', `
  select email, created_at, expires_at, consumed_at, suppressed from otp_challenges where id = $1`);

/** Why a code is not to be sent, or null when it is. */
function staleReason(challenge: { expires_at: Date; consumed_at: Date | null; suppressed: boolean }, now: Date) {
  // Over a mailbox limit: the API answered as usual so the address's history stays private.
  if (challenge.suppressed) return 'held back by a mailbox limit';
  if (challenge.consumed_at) return 'code already used';
  if (challenge.expires_at <= now) return 'code expired before it could be sent';
  return null;
}

/**
 * Delivers a sign-in code. Checks the recorded state first, so a re-run of a delivered job, or
 * a code that is used, expired or held back by a mailbox limit, sends nothing.
 */
export function processOtpEmail(deps: Deps) {
  const { db, clock, jobSeal } = deps;
  return async (job: Job, data: OtpJob): Promise<Outcome> => {
    const jobId = job.id ?? `otp-${data.challengeId}`;
    return deliverOnce(deps, job, { jobId, kind: 'otp', uncertain: 'resend' }, async (): Promise<Plan> => {
      const [challenge] = await challengeOf.run(db, [data.challengeId]);
      if (!challenge) return { recipient: '', skip: 'challenge no longer exists' };
      const recipient = challenge.email;
      const stale = staleReason(challenge, clock.now());
      if (stale) return { recipient, skip: stale };

      let code: string;
      try {
        code = jobSeal.open(data.sealedCode, data.challengeId);
      } catch (err) {
        // Permanent: no retry brings a key back. An unknown kid means JOB_ENCRYPTION_OLD_KEYS lacks the key that sealed it.
        return { recipient, fail: `sealed code does not open with JOB_ENCRYPTION_KEY or JOB_ENCRYPTION_OLD_KEYS: ${(err as Error).message}` };
      }
      return { recipient, message: renderOtpMessage({ code, requestedAt: challenge.created_at, expiresAt: challenge.expires_at }) };
    });
  };
}
