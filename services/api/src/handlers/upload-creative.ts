import type { RequestHandler } from 'express';
import multer from 'multer';
import { z } from 'zod';
import { addDays, dateIn, isCalendarDate, jobIds } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { authOf } from '../middleware/authenticate.ts';
import { creativeUploadEngine, type StoredUpload } from '../creatives/upload-engine.ts';
import { insertCreative, removeCreativeRow } from '../creatives/queries.ts';
import { presentOwnCreative } from '../creatives/present.ts';
import { safeFilename } from '../creatives/sniff.ts';
import { readBodyInTime } from '../limits/body-deadline.ts';

export const UploadFieldsSchema = z.object({
  scheduled_on: z.string({ error: 'is required: the day the creative goes live, written YYYY-MM-DD' }).refine(isCalendarDate, 'must be a date written YYYY-MM-DD'),
});
/** The multipart form, as the reference describes it (multer and UploadFieldsSchema enforce it). */
export const UploadCreativeSchema = z.object({
  file: z.string().meta({ format: 'binary', description: 'One JPEG, PNG, GIF or WebP image, judged by its content.' }),
  scheduled_on: z.iso.date(),
}).meta({ id: 'UploadCreative' });

/**
 * The multipart parser for uploads: one `file` part streamed to storage, a few small fields.
 * Anything beyond the limits is refused by multer and mapped to a 4xx by errorHandler.
 */
export function parseCreativeUpload({ storage, config }: Pick<Deps, 'storage' | 'config'>): RequestHandler[] {
  const upload = multer({
    storage: creativeUploadEngine(storage),
    limits: { fileSize: config.creatives.maxBytes, files: 1, fields: 4, parts: 5, fieldSize: 1024, fieldNameSize: 64, headerPairs: 20 },
  }).single('file');
  const requireMultipart: RequestHandler = (req, _res, next) => {
    if (!req.is('multipart/form-data')) throw new HttpError(415, 'unsupported_media_type', 'Send the upload as multipart/form-data.');
    next();
  };
  return [requireMultipart, readBodyInTime(upload)];
}

/**
 * POST /v1/creatives: the file is already in storage (parseCreativeUpload); record it and queue
 * its processing. Any failure removes the file and the row, so nothing is left behind.
 */
export function handleUploadCreative({ db, storage, creativesQueue, config, clock }: Pick<Deps, 'db' | 'storage' | 'creativesQueue' | 'config' | 'clock'>): RequestHandler {
  const { horizonDays } = config.creatives;
  return async (req, res) => {
    const file = req.file as (Express.Multer.File & StoredUpload) | undefined;
    if (!file) throw new HttpError(400, 'file_required', 'Attach the image as the "file" field.');
    let recorded = false;
    try {
      const { scheduled_on: scheduledOn } = UploadFieldsSchema.parse(req.body ?? {});
      const now = clock.now();
      const today = dateIn(config.timeZone, now);
      const latest = addDays(today, horizonDays);
      if (scheduledOn < today || scheduledOn > latest) {
        throw new HttpError(400, 'invalid_scheduled_on', `scheduled_on must be between ${today} (today in ${config.timeZone}) and ${latest}.`);
      }
      const creative = await insertCreative(db, {
        id: file.creativeId, ownerId: authOf(res).userId, scheduledOn, filename: safeFilename(file.originalname),
        uploadKey: file.path, uploadSize: file.size, mime: file.sniffedMime, now,
      });
      recorded = true;
      await creativesQueue.add('process', { creativeId: creative.id }, { jobId: jobIds.processCreative(creative.id) });
      res.status(202).json({ creative: presentOwnCreative(creative) });
    } catch (err) {
      if (recorded) await removeCreativeRow(db, file.creativeId).catch(() => {});
      await storage.delete(file.path).catch(() => {});
      throw err;
    }
  };
}
