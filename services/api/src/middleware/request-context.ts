import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '@cheershare/shared';
import type { ApiMetrics } from '../metrics.ts';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Request id (a safe client `X-Request-Id` is kept, anything else replaced), baseline security
 * headers, and one access-log line per request. The log carries the path, never the query string
 * or headers, so nothing secret can reach it.
 */
export function requestContext({ logger, metrics }: { logger: Logger; metrics: ApiMetrics }): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The route template, never the raw path: ids would make every series unique.
      const path = (req.route as { path?: string | string[] } | undefined)?.path;
      const route = path === undefined ? '(unmatched)' : `${req.baseUrl}${Array.isArray(path) ? path.join('|') : path}`;
      metrics.http.observe({ method: req.method, route, status: res.statusCode }, ms / 1000);
      logger.info({ requestId, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}

/** While draining, ask keep-alive clients to reconnect elsewhere. */
export function closeWhenDraining({ lifecycle }: { lifecycle: { readonly draining: boolean } }): RequestHandler {
  return (_req, res, next) => {
    if (lifecycle.draining) res.set('Connection', 'close');
    next();
  };
}
