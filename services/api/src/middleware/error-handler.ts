import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { isDatabaseUnavailable, isQueueStoreUnavailable, StorageUnavailableError, type Logger } from '@cheershare/shared';
import { HttpError } from '../errors.ts';

// Errors from body-parser carry a `type`; each maps to a client error, never a 500.
const BODY_ERRORS: Record<string, [number, string, string]> = {
  'entity.parse.failed': [400, 'invalid_json', 'The request body is not valid JSON.'],
  'entity.too.large': [413, 'payload_too_large', 'The request body is too large.'],
  'encoding.unsupported': [415, 'unsupported_encoding', 'The request body encoding is not supported.'],
  'charset.unsupported': [415, 'unsupported_charset', 'The request body charset is not supported.'],
  'request.aborted': [400, 'request_aborted', 'The request was aborted.'],
};

// multer's limit errors: sizes are 413, everything else about the form's shape is 400.
const MULTER_ERRORS: Record<string, [number, string, string]> = {
  LIMIT_FILE_SIZE: [413, 'file_too_large', 'The file is larger than the upload limit.'],
  LIMIT_FILE_COUNT: [400, 'too_many_files', 'Send exactly one file.'],
  LIMIT_UNEXPECTED_FILE: [400, 'unexpected_file', 'Send exactly one file, in the "file" field.'],
  LIMIT_PART_COUNT: [400, 'too_many_parts', 'The form has too many parts.'],
  LIMIT_FIELD_COUNT: [400, 'too_many_fields', 'The form has too many fields.'],
  LIMIT_FIELD_KEY: [400, 'field_name_too_long', 'A field name is too long.'],
  LIMIT_FIELD_VALUE: [413, 'field_too_large', 'A field value is too long.'],
  MISSING_FIELD_NAME: [400, 'invalid_multipart', 'A form part has no name.'],
};

/** busboy reports a malformed multipart body with a plain Error; these are the client's fault. */
const MALFORMED_MULTIPART = /^(Unexpected end of form|Multipart: Boundary not found|Malformed part header|Unexpected end of multipart data)/;

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P03', '53300']);

/** Infrastructure that is down or overloaded is a 503 the client may retry, not a bug. */
function isUnavailable(err: unknown): boolean {
  // The queue store's own words for down, failing over, read-only or a cluster that cannot serve.
  if (isQueueStoreUnavailable(err) || isDatabaseUnavailable(err)) return true;
  // The object store down or past its deadline (StorageUnavailableError carries the cause).
  if (err instanceof StorageUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  // PostgreSQL's own messages are known to isDatabaseUnavailable; this one is ioredis's.
  if (/connection is closed/i.test(err.message)) return true;
  return err instanceof AggregateError && err.errors.some(isUnavailable);
}

function send(res: Parameters<ErrorRequestHandler>[2], status: number, code: string, message: string, extra: object = {}) {
  res.status(status).json({ error: { code, message, ...extra } });
}

/** The one place errors become HTTP responses: `{"error":{"code","message"[,"details"]}}`. */
export function errorHandler({ logger }: { logger: Logger }): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof HttpError) {
      res.set(err.headers);
      send(res, err.status, err.code, err.message);
      return;
    }
    if (err instanceof ZodError) {
      const details = err.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      send(res, 400, 'invalid_request', 'The request is not valid.', { details });
      return;
    }
    const bodyType = (err as { type?: unknown }).type;
    const bodyError = typeof bodyType === 'string' ? BODY_ERRORS[bodyType] : undefined;
    if (bodyError) {
      send(res, ...bodyError);
      return;
    }
    // A path parameter that is not valid percent-encoding (the router cannot decode it): no resource
    // has such an id.
    if (err instanceof URIError) {
      send(res, 404, 'not_found', 'No such resource.');
      return;
    }
    // A body whose Content-Encoding does not decode: body-parser passes zlib's error on as a 400
    // without a type (Z_DATA_ERROR, Z_BUF_ERROR, brotli's and zstd's codes).
    if ((err as { status?: unknown }).status === 400 && /^(Z_|ERR__ERROR_|ZSTD_error_)/.test(String((err as { code?: unknown }).code))) {
      send(res, 400, 'invalid_encoding', 'The request body could not be decoded with its Content-Encoding.');
      return;
    }
    const multerCode = (err as { name?: unknown; code?: unknown }).name === 'MulterError' ? String((err as { code?: unknown }).code) : undefined;
    const multerError = multerCode ? MULTER_ERRORS[multerCode] ?? [400, 'invalid_multipart', 'The form is not acceptable.'] as const : undefined;
    if (multerError) {
      send(res, ...multerError);
      return;
    }
    if (err instanceof Error && MALFORMED_MULTIPART.test(err.message)) {
      send(res, 400, 'invalid_multipart', 'The multipart body is malformed.');
      return;
    }
    const requestId = res.locals.requestId as string | undefined;
    if (isUnavailable(err)) {
      logger.warn({ err, requestId }, 'dependency unavailable');
      res.set('Retry-After', '5');
      send(res, 503, 'service_unavailable', 'A backing service is unavailable; try again shortly.');
      return;
    }
    logger.error({ err, requestId, method: req.method, path: req.path }, 'unhandled error');
    send(res, 500, 'internal_error', 'Something went wrong on our side.', { request_id: requestId });
  };
}

export function notFound(): RequestHandler {
  return (_req, _res) => {
    throw new HttpError(404, 'not_found', 'No such endpoint.');
  };
}
