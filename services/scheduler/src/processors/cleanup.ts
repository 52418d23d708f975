import type { Job } from 'bullmq';
import { CREATIVE_KEY_PREFIXES, creativeKeys, jobIds, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { rejectUnprocessed } from './process-creative.ts';

const HOUR = 3600_000;
const BATCH = 500;
// A job in one of these states will still decide its creative.
const LIVE_JOB_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/** The creative id a storage key belongs to, if it is one of ours. */
function creativeIdOfKey(key: string): string | undefined {
  return /^(?:uploads|images|thumbnails)\/([0-9a-f-]{36})(?:\.webp)?$/.exec(key)?.[1];
}

/**
 * Periodic cleanup: codes older than a day, sessions expired or revoked past the retention, sign-in
 * events past theirs, creatives stuck in processing, files and rows
 * of deleted creatives, files nothing refers to, and partial writes of aborted uploads. Everything
 * is keyed on age, so it is safe to run at any time and more than once.
 */
export function runCleanup(deps: Deps) {
  const { db, storage, config, clock, logger, creativesQueue } = deps;
  return async (_job: Job, _data: JobData<'maintenance', 'cleanup'>) => {
    const now = clock.now();
    const hourAgo = new Date(now.getTime() - HOUR);
    const retention = new Date(now.getTime() - config.retention.sessionDays * 24 * HOUR);

    // Challenges are the day's record of codes sent and wrong guesses per email (the API's issue
    // limits read 24 h back); past that, and long expired (TTL is at most an hour), none is useful.
    const codes = await db.deleteFrom('otp_challenges').where('created_at', '<', new Date(now.getTime() - 25 * HOUR)).executeTakeFirst();
    const sessions = await db.deleteFrom('sessions')
      .where((eb) => eb.or([eb('expires_at', '<', retention), eb('revoked_at', '<', retention)])).executeTakeFirst();
    const events = await db.deleteFrom('auth_events').where('at', '<', new Date(now.getTime() - config.retention.authEventDays * 24 * HOUR)).executeTakeFirst();

    // Creatives still processing long after upload with no live job behind them (its job failed
    // for good, or was lost with the queue store): rejected, and their owners told.
    let stuckCreatives = 0;
    const stuckBefore = new Date(now.getTime() - config.processingMaxAgeMinutes * 60_000);
    const stuck = await db.selectFrom('creatives').select('id')
      .where('status', '=', 'processing').where('deleted_at', 'is', null).where('created_at', '<', stuckBefore)
      .orderBy('created_at').limit(BATCH).execute();
    for (const { id } of stuck) {
      const job = await creativesQueue.getJob(jobIds.processCreative(id));
      if (job && LIVE_JOB_STATES.has(await job.getState())) continue;
      if ((await rejectUnprocessed(deps, id)).status === 'rejected') stuckCreatives += 1;
    }

    let deletedCreatives = 0;
    for (;;) {
      const batch = await db.selectFrom('creatives').select('id').where('deleted_at', 'is not', null).limit(BATCH).execute();
      for (const { id } of batch) {
        await Promise.all([creativeKeys.upload(id), creativeKeys.image(id), creativeKeys.thumbnail(id)].map((k) => storage.delete(k)));
        await db.deleteFrom('creatives').where('id', '=', id).execute();
      }
      deletedCreatives += batch.length;
      if (batch.length < BATCH) break;
    }

    // Files older than an hour that no live creative refers to: rejected uploads, crashes between
    // storing a file and recording it.
    let orphans = 0;
    // Only the creatives' folders: anything else in a shared bucket (or directory) is not ours.
    for (const prefix of CREATIVE_KEY_PREFIXES) {
      for await (const obj of storage.list(prefix)) {
        if (obj.modifiedAt >= hourAgo) continue;
        const id = creativeIdOfKey(obj.key);
        const row = id ? await db.selectFrom('creatives').select(['status', 'upload_key', 'image_key', 'thumbnail_key']).where('id', '=', id).executeTakeFirst() : undefined;
        const referenced = row !== undefined && [row.upload_key, row.image_key, row.thumbnail_key].includes(obj.key);
        if (!referenced) {
          await storage.delete(obj.key);
          orphans += 1;
        }
      }
    }
    const incomplete = await storage.sweepIncomplete(hourAgo);

    const result = {
      codes: Number(codes.numDeletedRows), sessions: Number(sessions.numDeletedRows), authEvents: Number(events.numDeletedRows), stuckCreatives, deletedCreatives, orphanFiles: orphans, incompleteUploads: incomplete,
    };
    logger.info(result, 'cleanup done');
    return result;
  };
}
