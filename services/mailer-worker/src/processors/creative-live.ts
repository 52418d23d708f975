import type { Job } from 'bullmq';
import { jobIds, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { renderCreativeLiveMessage } from '../mail/creative-messages.ts';
import { deliverOnce, type Outcome, type Plan } from '../send.ts';

type CreativeLiveJob = JobData<'email', 'creative-live'>;

/**
 * The daily "your creative is live" digest for one owner and day. Which creatives is read when
 * the job runs, so one deleted or rejected since the job was queued is not announced. The
 * delivery is keyed by owner and day, so at most one digest goes out per owner and day.
 */
export function processCreativeLiveEmail(deps: Deps) {
  const { db } = deps;
  return async (job: Job, data: CreativeLiveJob): Promise<Outcome> => {
    const jobId = jobIds.creativeLive(data.userId, data.day);
    return deliverOnce(deps, job, { jobId, kind: 'creative-live', uncertain: 'once' }, async (): Promise<Plan> => {
      const user = await db.selectFrom('users').select('email').where('id', '=', data.userId).executeTakeFirst();
      if (!user) return { recipient: '', skip: 'user no longer exists' };
      const live = await db.selectFrom('creatives').select('filename')
        .where('owner_id', '=', data.userId)
        .where('status', '=', 'ready')
        .where('deleted_at', 'is', null)
        .where('scheduled_on', '=', data.day)
        .orderBy('created_at').orderBy('id')
        .execute();
      if (live.length === 0) return { recipient: user.email, skip: `no ready creatives on ${data.day}` };
      return { recipient: user.email, message: renderCreativeLiveMessage({ day: data.day, filenames: live.map((c) => c.filename) }) };
    });
  };
}
