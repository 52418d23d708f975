import type { Job } from 'bullmq';
import { creativeKeys, jobIds, type JobData } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { ImageRejectedError, normaliseImage, rejectionKind } from '../images.ts';

export type Result = { status: 'ready' | 'rejected' | 'gone' };

const GENERIC_REASON = 'We could not process this image; please upload it again.';

/**
 * Marks a creative still `processing` rejected with `reason`, (re)queues the owner's email (same
 * job id, so never twice) and removes the upload. Safe to repeat: the row changes, and the count
 * goes up, only once.
 */
export async function rejectCreative(
  { db, storage, emailQueue, clock, logger, metrics }: Pick<Deps, 'db' | 'storage' | 'emailQueue' | 'clock' | 'logger' | 'metrics'>,
  id: string, reason: string, uploadKey: string | null,
): Promise<Result> {
  const marked = await db.updateTable('creatives')
    .set({ status: 'rejected', rejection_reason: reason, processed_at: clock.now(), upload_key: null })
    .where('id', '=', id).where('status', '=', 'processing').executeTakeFirst();
  // Counted once, when the row changes: a re-run only re-queues the (deduplicated) email.
  if (marked.numUpdatedRows > 0n) metrics.images.inc({ outcome: 'rejected', reason: rejectionKind(reason) });
  await emailQueue.add('creative-rejected', { creativeId: id }, { jobId: jobIds.creativeRejected(id) });
  // Best effort: a file left here is unreferenced now, and cleanup removes it within the hour.
  if (uploadKey) await storage.delete(uploadKey).catch((err: unknown) => logger.warn({ err, creativeId: id }, 'could not remove a rejected upload'));
  logger.info({ creativeId: id, reason }, 'creative rejected');
  return { status: 'rejected' };
}

/**
 * The end of a creative whose processing job failed for good without its processor deciding
 * (stalled too often: a worker killed twice on one image; or its last attempt could not record
 * the rejection): rejected with the generic reason, if it is still processing.
 */
export async function rejectUnprocessed(deps: Pick<Deps, 'db' | 'storage' | 'emailQueue' | 'clock' | 'logger' | 'metrics'>, creativeId: string): Promise<Result> {
  const creative = await deps.db.selectFrom('creatives').select(['status', 'upload_key', 'deleted_at']).where('id', '=', creativeId).executeTakeFirst();
  if (!creative || creative.deleted_at || creative.status !== 'processing') return { status: 'gone' };
  return rejectCreative(deps, creativeId, GENERIC_REASON, creative.upload_key);
}

/**
 * Decodes and normalises one uploaded creative, then marks it ready or rejected. Idempotent: a
 * creative already ready is left alone, an already rejected one only has its email (re)queued
 * (same job id, so never twice), and a deleted one is skipped.
 */
export function processCreative(deps: Deps) {
  const { db, storage, config, clock, logger, metrics } = deps;
  const reject = (id: string, reason: string, uploadKey: string | null) => rejectCreative(deps, id, reason, uploadKey);

  const attempt = async (job: Job, { creativeId }: JobData<'creatives', 'process'>): Promise<Result> => {
    const creative = await db.selectFrom('creatives').selectAll().where('id', '=', creativeId).executeTakeFirst();
    if (!creative || creative.deleted_at) return { status: 'gone' };
    if (creative.status === 'ready') return { status: 'ready' };
    if (creative.status === 'rejected') return reject(creative.id, creative.rejection_reason ?? 'The image was rejected.', creative.upload_key);

    logger.info({ creativeId, jobId: job.id, attempt: job.attemptsMade + 1 }, 'processing creative');
    const input = creative.upload_key ? await storage.readBuffer(creative.upload_key).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    }) : null;
    if (!input) return reject(creative.id, 'The upload could not be found; please upload the image again.', null);

    let image;
    try {
      image = await normaliseImage(input, config.images);
    } catch (err) {
      if (err instanceof ImageRejectedError) return reject(creative.id, err.message, creative.upload_key);
      throw err;
    }

    // Keys derive from the id, so a re-run overwrites the same objects rather than leaving copies.
    const imageKey = creativeKeys.image(creative.id);
    const thumbnailKey = creativeKeys.thumbnail(creative.id);
    await storage.write(imageKey, image.image);
    await storage.write(thumbnailKey, image.thumbnail);
    await db.updateTable('creatives')
      .set({
        status: 'ready', image_key: imageKey, thumbnail_key: thumbnailKey, mime: image.mime, byte_size: image.image.length,
        width: image.width, height: image.height, sha256: image.sha256, processed_at: clock.now(), upload_key: null,
      })
      .where('id', '=', creative.id).where('status', '=', 'processing').execute();
    if (creative.upload_key) await storage.delete(creative.upload_key);
    logger.info({ creativeId, width: image.width, height: image.height, bytes: image.image.length }, 'creative ready');
    metrics.images.inc({ outcome: 'ready', reason: '' });
    return { status: 'ready' };
  };

  // Transient trouble (storage, database) is retried; after the last attempt the creative is
  // marked rejected rather than left "processing" forever with its upload kept.
  return async (job: Job, data: JobData<'creatives', 'process'>): Promise<Result> => {
    try {
      return await attempt(job, data);
    } catch (err) {
      if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw err;
      logger.error({ err, creativeId: data.creativeId }, 'creative processing failed on its last attempt');
      return rejectUnprocessed(deps, data.creativeId);
    }
  };
}
