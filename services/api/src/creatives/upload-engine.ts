import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { creativeKeys, type Storage } from '@cheershare/shared';
import { HttpError } from '../errors.ts';
import { SNIFF_BYTES, sniffImage, type SniffedMime } from './sniff.ts';

/** What the engine adds to `req.file`. `path` is the storage key (multer uses it to clean up). */
export interface StoredUpload {
  creativeId: string;
  path: string;
  size: number;
  sniffedMime: SniffedMime;
  originalname: string;
}

const notAnImage = () => new HttpError(415, 'unsupported_image_type', 'Only JPEG, PNG, GIF and WebP images are accepted.');

/** Passes the stream through, failing before the first byte is stored unless it starts like an accepted image. */
async function* sniffed(source: AsyncIterable<Buffer>, found: (mime: SniffedMime) => void): AsyncGenerator<Buffer> {
  let head = Buffer.alloc(0);
  let checked = false;
  const check = () => {
    const mime = sniffImage(head);
    if (!mime) throw notAnImage();
    found(mime);
    checked = true;
  };
  for await (const chunk of source) {
    if (checked) {
      yield chunk;
      continue;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length < SNIFF_BYTES) continue;
    check();
    yield head;
  }
  if (!checked) {
    check();
    yield head;
  }
}

/**
 * A multer storage engine that streams the file straight into Storage under a generated key
 * (never the client's filename), judging the type by content, never buffering the whole file.
 */
export function creativeUploadEngine(storage: Storage): StorageEngine {
  return {
    _handleFile(_req: Request, file, cb) {
      const creativeId = randomUUID();
      const key = creativeKeys.upload(creativeId);
      let mime: SniffedMime | undefined;
      // Not destroyed when the sniff stops reading early: destroying busboy's file stream makes
      // multer report an abort instead of the 415, and the rest of the body is drained below.
      const chunks = file.stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
      storage.write(key, sniffed(chunks, (m) => (mime = m))).then(
        ({ size }) => cb(null, { creativeId, path: key, size, sniffedMime: mime } as Partial<Express.Multer.File>),
        (err: unknown) => {
          // The client's stream must still be drained, or busboy never finishes the request.
          file.stream.resume();
          cb(err);
        },
      );
    },
    _removeFile(_req: Request, file, cb) {
      storage.delete(file.path).then(() => cb(null), cb);
    },
  };
}
