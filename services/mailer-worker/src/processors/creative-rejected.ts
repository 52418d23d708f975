import type { Job } from 'bullmq';
import { jobIds, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { renderCreativeRejectedMessage } from '../mail/creative-messages.ts';
import { deliverOnce, type Outcome, type Plan } from '../send.ts';

type CreativeRejectedJob = JobData<'email', 'creative-rejected'>;

/** Tells the owner an upload was rejected and why, unless it has since been deleted. */
export function processCreativeRejectedEmail(deps: Deps) {
  const { db } = deps;
  return async (job: Job, data: CreativeRejectedJob): Promise<Outcome> => {
    const jobId = jobIds.creativeRejected(data.creativeId);
    return deliverOnce(deps, job, { jobId, kind: 'creative-rejected', uncertain: 'once' }, async (): Promise<Plan> => {
      const creative = await db.selectFrom('creatives')
        .innerJoin('users', 'users.id', 'creatives.owner_id')
        .select(['users.email', 'creatives.status', 'creatives.deleted_at', 'creatives.scheduled_on', 'creatives.filename', 'creatives.rejection_reason'])
        .where('creatives.id', '=', data.creativeId)
        .executeTakeFirst();
      if (!creative) return { recipient: '', skip: 'creative no longer exists' };
      const recipient = creative.email;
      if (creative.deleted_at) return { recipient, skip: 'creative was deleted' };
      if (creative.status !== 'rejected') return { recipient, skip: `creative is ${creative.status}, not rejected` };
      return {
        recipient,
        message: renderCreativeRejectedMessage({ scheduledOn: creative.scheduled_on, filename: creative.filename, reason: creative.rejection_reason }),
      };
    });
  };
}
