import type { RequestHandler } from 'express';
import { HttpError } from '../errors.ts';

/** Endpoints with a JSON body reject other media types up front with a clear 415. */
export function requireJson(): RequestHandler {
  return (req, _res, next) => {
    if (!req.is('application/json')) {
      throw new HttpError(415, 'unsupported_media_type', 'Send the body as application/json.');
    }
    next();
  };
}
