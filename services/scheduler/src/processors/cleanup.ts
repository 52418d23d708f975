import type { Job } from 'bullmq';
import { creativeKeys, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';

const HOUR = 3600_000;
const BATCH = 500;

/** The creative id a storage key belongs to, if it is one of ours. */
function creativeIdOfKey(key: string): string | undefined {
  return /^(?:uploads|images|thumbnails)\/([0-9a-f-]{36})(?:\.webp)?$/.exec(key)?.[1];
}

/**
 * Periodic cleanup: codes older than a day, sessions expired or revoked past the retention, sign-in
 * events past theirs, files and rows
 * of deleted creatives, files nothing refers to, and partial writes of aborted uploads. Everything
 * is keyed on age, so it is safe to run at any time and more than once.
 */
export function runCleanup({ db, storage, config, clock, logger }: Deps) {
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
    for await (const obj of storage.list('')) {
      if (obj.modifiedAt >= hourAgo) continue;
      const id = creativeIdOfKey(obj.key);
      const row = id ? await db.selectFrom('creatives').select(['status', 'upload_key', 'image_key', 'thumbnail_key']).where('id', '=', id).executeTakeFirst() : undefined;
      const referenced = row !== undefined && [row.upload_key, row.image_key, row.thumbnail_key].includes(obj.key);
      if (!referenced) {
        await storage.delete(obj.key);
        orphans += 1;
      }
    }
    const incomplete = await storage.sweepIncomplete(hourAgo);

    const result = {
      codes: Number(codes.numDeletedRows), sessions: Number(sessions.numDeletedRows), authEvents: Number(events.numDeletedRows), deletedCreatives, orphanFiles: orphans, incompleteUploads: incomplete,
    };
    logger.info(result, 'cleanup done');
    return result;
  };
}
