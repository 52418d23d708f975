import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Logger } from '../logger.ts';
import { s3Failure, storagePrefix } from './s3-errors.ts';
import { assertStorageKey, INCOMPLETE_PREFIX, isStorageKey, type Storage, type StoredObject } from './storage.ts';

/** Where and how an S3 store is reached (`STORAGE=s3`). */
export interface S3StorageSettings {
  bucket: string;
  /** Every key lives under it (`S3_PREFIX`), so one bucket can hold several deployments. */
  prefix?: string | undefined;
  /** Another S3 server than AWS (MinIO, Garage, Ceph RGW, R2 …). */
  endpoint?: string | undefined;
  region: string;
  /** `http://endpoint/bucket/key` rather than `http://bucket.endpoint/key`, which most other servers need. */
  forcePathStyle?: boolean | undefined;
  /**
   * Each request's deadline: a whole call, or for a read and for each part of an upload the wait
   * for the store's answer, and any silence on the connection.
   */
  timeoutMs: number;
  /** Objects per listing page (default 1000, S3's maximum). */
  listPageSize?: number | undefined;
  /** Default: the AWS SDK's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance and task roles). */
  credentials?: S3ClientConfig['credentials'];
}

// Never an object key of ours: partial writes (none on S3, where an upload is atomic) and readiness probes.
const INTERNAL = `${INCOMPLETE_PREFIX}/`;

/**
 * Storage in an S3 bucket. Writes are streamed (one multipart part of 5 MiB in memory at a time)
 * and atomic: an object appears only once complete, and a failed upload is aborted, so nothing
 * is left. Failures to reach the store reject with StorageUnavailableError within the deadline.
 */
export function createS3Storage(settings: S3StorageSettings, logger?: Logger): Storage {
  const { bucket, timeoutMs } = settings;
  const base = storagePrefix(settings.prefix);
  const pageSize = settings.listPageSize ?? 1000;
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint && { endpoint: settings.endpoint }),
    forcePathStyle: settings.forcePathStyle ?? false,
    ...(settings.credentials && { credentials: settings.credentials }),
    // A store that is down answers fast: one retry, not the SDK's three with growing backoff.
    maxAttempts: 2,
    // Checksums only where S3 demands them: the SDK's newer default (CRC32 on every upload) is
    // refused by several S3-compatible servers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true, socketTimeout: timeoutMs },
  });
  const full = (key: string) => {
    assertStorageKey(key);
    return base + key;
  };

  /** One call under the deadline; `key` makes a 404 the not-found error `read` promises. */
  async function call<T>(what: string, run: (abortSignal: AbortSignal) => Promise<T>, key?: string): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      return await run(controller.signal);
    } catch (err) {
      throw s3Failure(err, what, { timedOut: controller.signal.aborted, timeoutMs, key });
    } finally {
      clearTimeout(timer);
    }
  }

  /** A lazy stream of the object: the request starts on the first read, and errors become stream errors. */
  function read(key: string): Readable {
    const Key = full(key);
    async function* body() {
      // The deadline covers the wait for the answer; the body then streams under the idle timeout.
      const res = await call('GetObject', (abortSignal) => client.send(new GetObjectCommand({ Bucket: bucket, Key }), { abortSignal }), key);
      try {
        yield* res.Body as Readable;
      } catch (err) {
        throw s3Failure(err, 'GetObject', { timedOut: false, timeoutMs });
      }
    }
    return Readable.from(body(), { objectMode: false });
  }

  /** Every object under the raw key prefix `rawPrefix`, page by page. */
  async function* listRaw(rawPrefix: string): AsyncGenerator<StoredObject> {
    let token: string | undefined;
    do {
      const page = await call('ListObjectsV2', (abortSignal) => client.send(new ListObjectsV2Command({
        Bucket: bucket, Prefix: rawPrefix, MaxKeys: pageSize, ContinuationToken: token,
      }), { abortSignal }));
      for (const o of page.Contents ?? []) {
        if (o.Key) yield { key: o.Key.slice(base.length), size: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async function removeRaw(Key: string) {
    await call('DeleteObject', (abortSignal) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }), { abortSignal }), Key).catch((err: unknown) => {
      // S3 answers 204 for a missing key; some servers answer 404.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
  }

  /** Multipart uploads started before `before` and never completed (a crash mid-upload, a failed abort). */
  async function abortStaleUploads(before: Date): Promise<number> {
    let removed = 0;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      const page = await call('ListMultipartUploads', (abortSignal) => client.send(new ListMultipartUploadsCommand({
        Bucket: bucket, Prefix: base, MaxUploads: pageSize, KeyMarker, UploadIdMarker,
      }), { abortSignal }));
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= before || !isStorageKey(u.Key.slice(base.length))) continue;
        const { Key, UploadId } = u;
        await call('AbortMultipartUpload', (abortSignal) => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }), { abortSignal }), Key)
          .catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // aborted meanwhile by another replica
          });
        removed += 1;
      }
      [KeyMarker, UploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
    } while (KeyMarker);
    return removed;
  }

  return {
    async write(key, source) {
      const Key = full(key);
      let size = 0;
      let sourceError: unknown;
      // Tells the source's own failures from the stream being torn down when the upload fails
      // (which throws an AbortError in at the yield).
      async function* counted(chunks: AsyncIterable<Buffer>) {
        const it = chunks[Symbol.asyncIterator]();
        let finished = false;
        try {
          for (;;) {
            const next = await it.next().catch((err: unknown) => {
              finished = true;
              sourceError = err;
              throw err;
            });
            if (next.done) {
              finished = true;
              return;
            }
            size += next.value.length;
            yield next.value;
          }
        } finally {
          if (!finished) await it.return?.();
        }
      }
      const Body = Buffer.isBuffer(source) ? source : Readable.from(counted(source), { objectMode: false });
      if (Buffer.isBuffer(source)) size = source.length;
      // queueSize 1: one part buffered while one is sent, whatever the file's size. leavePartsOnError
      // false: a failed upload (the client's stream broke, a part failed) is aborted before done() rejects.
      const upload = new Upload({ client, params: { Bucket: bucket, Key, Body }, queueSize: 1, leavePartsOnError: false });
      try {
        await upload.done();
      } catch (err) {
        if (Body instanceof Readable) Body.destroy();
        // The client's own failure (a 415 on the first bytes, a broken request) is passed on as it is.
        if (sourceError !== undefined) throw sourceError as Error;
        throw s3Failure(err, 'Upload', { timedOut: false, timeoutMs });
      }
      return { size };
    },
    read,
    async readBuffer(key) {
      const chunks: Buffer[] = [];
      for await (const chunk of read(key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    async stat(key) {
      const Key = full(key);
      try {
        const head = await call('HeadObject', (abortSignal) => client.send(new HeadObjectCommand({ Bucket: bucket, Key }), { abortSignal }), key);
        return { key, size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async delete(key) {
      await removeRaw(full(key));
    },
    async *list(prefix) {
      // Only keys this service could have written: another tool's objects under the prefix (a
      // console's folder marker, a name with spaces) are neither listed nor, so, deleted.
      for await (const obj of listRaw(base + prefix)) if (!obj.key.startsWith(INTERNAL) && isStorageKey(obj.key)) yield obj;
    },
    async sweepIncomplete(before) {
      let removed = 0;
      try {
        removed += await abortStaleUploads(before);
      } catch (err) {
        if ((err as { name?: string }).name !== 'NotImplemented') throw err;
        logger?.warn({ bucket }, 'this S3 server cannot list multipart uploads: set a bucket lifecycle rule that aborts incomplete ones');
      }
      for await (const obj of listRaw(base + INTERNAL)) {
        if (obj.modifiedAt >= before) continue;
        await removeRaw(base + obj.key);
        removed += 1;
      }
      return removed;
    },
    close() {
      client.destroy();
      return Promise.resolve();
    },
    async ready() {
      // Writable, not merely reachable: a put and a delete of an empty object.
      const Key = `${base}${INTERNAL}ready-${randomUUID()}`;
      await call('PutObject', (abortSignal) => client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.alloc(0) }), { abortSignal }));
      await removeRaw(Key);
    },
  };
}
