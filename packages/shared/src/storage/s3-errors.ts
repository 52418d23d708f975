import { StorageUnavailableError } from './storage.ts';

// The store cannot be reached or stopped answering: retrying later may succeed.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

type SdkError = { name?: unknown; code?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };

function unreachable(err: unknown): boolean {
  if (err instanceof AggregateError) return err.errors.some(unreachable);
  const e = (err ?? {}) as SdkError;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return true;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  // 501: the server does not do this at all (s3rver and some others: ListMultipartUploads). Not an
  // outage; the caller decides (cleanup falls back on the bucket's lifecycle rule).
  if (e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501) return false;
  // The store's own trouble (500 InternalError, 503 SlowDown, a proxy's 502/504).
  return (e.$metadata?.httpStatusCode ?? 0) >= 500;
}

/**
 * What an S3 call's failure means to callers: StorageUnavailableError when the store is down,
 * slow or overloaded; an error with `code: 'ENOENT'` (as the local store's) when `key` is
 * missing; otherwise the SDK's error unchanged (access denied, no such bucket: configuration).
 */
export function s3Failure(err: unknown, what: string, ctx: { timedOut: boolean; timeoutMs: number; key?: string | undefined }): unknown {
  if (err instanceof StorageUnavailableError) return err;
  if (ctx.timedOut) return new StorageUnavailableError(`object store: ${what} got no answer within ${ctx.timeoutMs} ms`, { cause: err });
  if (unreachable(err)) {
    const { code, name } = err as SdkError;
    const reason = typeof code === 'string' ? code : typeof name === 'string' ? name : 'error';
    return new StorageUnavailableError(`object store: ${what} failed (${reason})`, { cause: err });
  }
  const e = err as SdkError;
  const missing = e.name === 'NoSuchKey' || e.name === 'NotFound' || e.name === 'NoSuchUpload' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket');
  if (ctx.key !== undefined && missing) {
    return Object.assign(new Error(`no such object: ${ctx.key}`, { cause: err }), { code: 'ENOENT' });
  }
  return err;
}

/** `S3_PREFIX` as a key prefix: '' or segments ending in '/'. */
export function storagePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(trimmed)) throw new Error(`invalid storage prefix: ${JSON.stringify(prefix)}`);
  return `${trimmed}/`;
}
