import type { Job } from 'bullmq';
import { dateIn, jobIds, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';

/**
 * Queues one "your creative is live" email per owner of a ready creative scheduled today (in
 * APP_TIMEZONE). The job id is per user and day and the mailer records what it sent, so a re-run,
 * or a second scheduler replica, never sends a second email that day.
 */
export function runDailyDigest({ db, emailQueue, config, clock, logger }: Deps) {
  return async (_job: Job, { day }: JobData<'maintenance', 'daily-digest'>) => {
    const target = day ?? dateIn(config.timeZone, clock.now());
    const owners = await db.selectFrom('creatives').select('owner_id').distinct()
      .where('status', '=', 'ready').where('deleted_at', 'is', null).where('scheduled_on', '=', target).execute();
    for (const { owner_id: userId } of owners) {
      await emailQueue.add('creative-live', { userId, day: target }, { jobId: jobIds.creativeLive(userId, target) });
    }
    logger.info({ day: target, owners: owners.length }, 'daily digest queued');
    return { day: target, owners: owners.length };
  };
}
