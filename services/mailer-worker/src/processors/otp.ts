import type { Job } from 'bullmq';
import { statement, unseal, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { renderOtpMessage } from '../mail/otp-message.ts';
import { deliverOnce, type Outcome, type Plan } from '../send.ts';

type OtpJob = JobData<'email', 'otp'>;

// The challenge and whether a newer code replaced it, in one round trip.
const challengeOf = statement<{ email: string; created_at: Date; expires_at: Date; consumed_at: Date | null; superseded: boolean }>('otp-email-challenge', `
  select c.email, c.created_at, c.expires_at, c.consumed_at,
         exists (select 1 from otp_challenges n where n.email = c.email and n.created_at > c.created_at) as superseded
  from otp_challenges c where c.id = $1`);

/** Why a code is not worth sending any more, or null when it still is. */
function staleReason(challenge: { expires_at: Date; consumed_at: Date | null; superseded: boolean }, now: Date) {
  if (challenge.consumed_at) return 'code already used';
  if (challenge.expires_at <= now) return 'code expired before it could be sent';
  return challenge.superseded ? 'a newer code replaced this one' : null;
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
      const [challenge] = await challengeOf.run(db, [data.challengeId]);
      if (!challenge) return { recipient: '', skip: 'challenge no longer exists' };
      const recipient = challenge.email;
      const stale = staleReason(challenge, clock.now());
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
