import { createRequire } from 'node:module';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

// s3rver 3.7 stores multipart uploads but answers NotImplemented to ListMultipartUploads and has no
// AbortMultipartUpload, both of which the S3 store relies on (an aborted upload must leave nothing,
// cleanup sweeps stale ones). This middleware adds them over s3rver's own upload directory, as the
// S3 API reference describes them, and makes parts and completions of an unknown upload answer
// NoSuchUpload as S3 does (s3rver would otherwise recreate an aborted upload's folder).
// Path-style requests only; these routes skip s3rver's signature check.

const require = createRequire(import.meta.url);
const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string, detail?: object) => Error;

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  status: number;
  body: unknown;
}
type Next = () => Promise<void>;
interface Store {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

async function uploadsOf(root: string): Promise<{ key: string; uploadId: string; initiated: Date }[]> {
  const ids = await readdir(root).catch(() => [] as string[]);
  const found = await Promise.all(ids.map(async (uploadId) => {
    try {
      const keyFile = join(root, uploadId, 'key');
      const [key, s] = await Promise.all([readFile(keyFile, 'utf8'), stat(keyFile)]);
      return { key, uploadId, initiated: s.mtime };
    } catch {
      return null; // a folder without its key file is no upload
    }
  }));
  return found.filter((u) => u !== null).sort((a, b) => (a.key === b.key ? a.uploadId.localeCompare(b.uploadId) : a.key < b.key ? -1 : 1));
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Koa middleware for an s3rver instance whose filesystem store is `store`. */
export function multipartExtension(store: Store) {
  return async (ctx: KoaContext, next: Next): Promise<void> => {
    const [, bucket, ...rest] = ctx.path.split('/');
    if (!bucket) return next();
    const key = rest.map(decodeURIComponent).join('/');
    const root = store.getResourcePath(bucket, undefined, 'uploads');
    const uploadId = ctx.query.uploadId;

    if (ctx.method === 'GET' && !key && 'uploads' in ctx.query) {
      const prefix = ctx.query.prefix ?? '';
      const keyMarker = ctx.query['key-marker'] ?? '';
      const idMarker = ctx.query['upload-id-marker'] ?? '';
      const max = Math.min(1000, Number(ctx.query['max-uploads'] ?? 1000));
      const after = (await uploadsOf(root)).filter((u) => u.key.startsWith(prefix)
        && (u.key > keyMarker || (u.key === keyMarker && idMarker !== '' && u.uploadId > idMarker)));
      const page = after.slice(0, max);
      const last = page.at(-1);
      const truncated = after.length > page.length;
      ctx.body = {
        ListMultipartUploadsResult: {
          '@': { xmlns: XMLNS },
          Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: idMarker, Prefix: prefix, MaxUploads: max, IsTruncated: truncated,
          ...(truncated && last && { NextKeyMarker: last.key, NextUploadIdMarker: last.uploadId }),
          Upload: page.map((u) => ({ Key: u.key, UploadId: u.uploadId, Initiated: u.initiated.toISOString(), StorageClass: 'STANDARD' })),
        },
      };
      return;
    }
    if (key && uploadId !== undefined) {
      const dir = join(root, uploadId);
      if (!/^[0-9a-f]+$/i.test(uploadId) || !(await exists(join(dir, 'key')))) {
        throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
      }
      if (ctx.method === 'DELETE') {
        await rm(dir, { recursive: true, force: true });
        ctx.status = 204;
        return;
      }
    }
    return next();
  };
}
