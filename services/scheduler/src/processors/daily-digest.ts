import type { Job } from 'bullmq';
import { dateIn, jobIds, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';

/**
 * Queues one "your creative is live" email per owner of a ready creative scheduled today (in
 * APP_TIMEZONE). The job id is per user and day and the mailer records what it sent, so a re-run,
 * or a second scheduler replica, never sends a second email that day.
 */
export function runDailyDigest({ db, emailQueue, config, clock, logger }: Deps) {
  return async (job: Job, { day }: JobData<'maintenance', 'daily-digest'>) => {
    // The day the run was meant for, not the day it happens to run: a digest delayed past
    // midnight (scheduler down at 09:00) still covers its own day.
    const firesAt = job.timestamp ? job.timestamp + (job.delay || 0) : clock.now().getTime();
    const target = day ?? dateIn(config.timeZone, new Date(Math.min(firesAt, clock.now().getTime())));
    const owners = await db.selectFrom('creatives').select('owner_id').distinct()
      .where('status', '=', 'ready').where('deleted_at', 'is', null).where('scheduled_on', '=', target).execute();
    for (const { owner_id: userId } of owners) {
      await emailQueue.add('creative-live', { userId, day: target }, { jobId: jobIds.creativeLive(userId, target) });
    }
    logger.info({ day: target, owners: owners.length }, 'daily digest queued');
    return { day: target, owners: owners.length };
  };
}
