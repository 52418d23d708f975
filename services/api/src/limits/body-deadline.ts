import type { Request, RequestHandler } from 'express';
import { HttpError } from '../errors.ts';

interface Deadline {
  /** Aborted, with the 408 as its reason, once the body is late. */
  signal: AbortSignal;
  /** Moves the deadline to `ms` after the request's headers arrived. */
  moveTo(ms: number): void;
}

const deadlines = new WeakMap<Request, Deadline>();

const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

const bodyTooSlow = () => new HttpError(408, 'request_timeout', 'The request body did not arrive in time.', { Connection: 'close' });

/**
 * Gives a request's body `ms` to arrive in full, counted from its headers, so a client trickling
 * bytes cannot hold a connection for the server-wide limit (sized for uploads). Past the deadline
 * the rest is not waited for: a parser reading it (readBodyInTime) fails with 408 at once, an
 * answer still to come closes the connection, and an answer already sent (a body nobody reads,
 * after a 401 or 415) is followed by closing the connection now.
 */
export function bodyDeadline(ms: number): RequestHandler {
  return (req, res, next) => {
    if (!hasBody(req)) {
      next();
      return;
    }
    const start = Date.now();
    const late = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const moveTo = (after: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (req.complete) return;
        if (res.headersSent) {
          req.socket.destroy();
          return;
        }
        res.setHeader('Connection', 'close');
        late.abort(bodyTooSlow());
      }, Math.max(0, start + after - Date.now()));
    };
    moveTo(ms);
    // 'close' comes once the body has arrived (or the connection is gone), even if nobody read it.
    req.once('close', () => clearTimeout(timer));
    deadlines.set(req, { signal: late.signal, moveTo });
    next();
  };
}

/** On a route whose bodies are large (uploads): `ms` instead of bodyDeadline's, from the same start. */
export function longBodyDeadline(ms: number): RequestHandler {
  return (req, _res, next) => {
    deadlines.get(req)?.moveTo(ms);
    next();
  };
}

/**
 * Runs a body parser (express.json, multer) under the request's deadline: once it passes, the
 * request goes on to errorHandler with the 408 (and `Connection: close`, so the socket is closed
 * after the answer) instead of waiting for the rest of the body; what the parser reports after
 * that (the aborted request) is ignored.
 */
export function readBodyInTime(parse: RequestHandler): RequestHandler {
  return async (req, res, next) => {
    const signal = deadlines.get(req)?.signal;
    if (!signal) return parse(req, res, next);
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onLate);
      next(err);
    };
    const onLate = () => settle(signal.reason);
    if (signal.aborted) {
      onLate();
      return;
    }
    signal.addEventListener('abort', onLate, { once: true });
    try {
      await parse(req, res, settle);
    } catch (err) {
      settle(err);
    }
  };
}
