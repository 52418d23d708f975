import type { Request, RequestHandler, Response } from 'express';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { QueueUnavailableError, type QueueClient } from '@cheershare/shared';
import { HttpError } from '../errors.ts';
import { clientKey } from './client-address.ts';

export interface Limit {
  /** Names the limit in the RateLimit headers and the store keys. */
  name: string;
  points: number;
  /** Seconds. */
  window: number;
}

/** A limit shared by every API process through the queue store (Redis or PostgreSQL). */
export interface SharedLimit extends Limit {
  limiter: RateLimiterAbstract;
  /** Called once per refusal (metrics). */
  refused: () => void;
  /**
   * Whether answers carry its RateLimit headers. A limit on everyone (the email budget) does not
   * advertise: its remaining points would tell any client how busy the service is.
   */
  advertised: boolean;
}

export function sharedLimit(
  queues: Pick<QueueClient, 'rateLimiter'>,
  limit: Limit,
  opts: { refused?: () => void; advertised?: boolean } = {},
): SharedLimit {
  return {
    ...limit,
    refused: opts.refused ?? (() => {}),
    advertised: opts.advertised ?? true,
    limiter: queues.rateLimiter({ keyPrefix: limit.name, points: limit.points, duration: limit.window }),
  };
}

/** The client a request counts against: its address (IPv6 by /64), as `trust proxy` resolves it. */
export function clientOf(req: Request): string {
  return clientKey(req.ip ?? req.socket.remoteAddress ?? '');
}

// How long a limit check may take before the request gets a 503: well inside the 5 s a client
// should wait for any answer while the store is down, with room for the queue add after it.
const LIMIT_DEADLINE_MS = 1_500;

// draft-ietf-httpapi-ratelimit-headers (structured fields): the policy, and what is left of it.
function setHeaders(res: Response, limit: SharedLimit, outcome: RateLimiterRes): void {
  if (!limit.advertised) return;
  const reset = Math.max(0, Math.ceil(outcome.msBeforeNext / 1000));
  res.setHeader('RateLimit-Policy', `"${limit.name}";q=${limit.points};w=${limit.window}`);
  res.setHeader('RateLimit', `"${limit.name}";r=${Math.max(0, outcome.remainingPoints)};t=${reset}`);
}

/**
 * Spends one point of `limit` for `key`. Over the limit it throws a 429 in the one error shape
 * with Retry-After and the RateLimit headers. A store that does not answer is a 503 (the limits
 * live in the queue store): a limit that cannot be checked is not waived. `firstRefusal` runs on
 * the first refusal of `key` in a window only, so a flood of refused requests is not a flood of writes.
 */
export async function spend(
  res: Response, limit: SharedLimit, key: string, refusal: { code: string; message: string }, firstRefusal?: () => Promise<void>,
): Promise<void> {
  // The store's client may wait for a reconnect (ioredis's offline queue) or for a blackholed
  // network (pg): a request gets its 503 within the deadline instead.
  const consuming = limit.limiter.consume(key);
  consuming.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${LIMIT_DEADLINE_MS} ms`)), LIMIT_DEADLINE_MS);
  });
  try {
    setHeaders(res, limit, await Promise.race([consuming, deadline]));
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw new QueueUnavailableError(`limit ${limit.name}: ${(err as Error).message}`, { cause: err });
    setHeaders(res, limit, err);
    limit.refused();
    // Every request counts, refused or not: the first one over the limit is points + 1.
    if (firstRefusal && err.consumedPoints === limit.points + 1) await firstRefusal();
    const retry = String(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
    throw new HttpError(429, refusal.code, `${refusal.message} Try again in ${retry} s.`, { 'Retry-After': retry });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Middleware: one point of `limit` per request from a client, before any other work.
 * `recordRefusal` (the activity log's limit_refused) runs on a client's first refusal in a window.
 */
export function limitPerClient(limit: SharedLimit, recordRefusal?: (req: Request) => Promise<void>): RequestHandler {
  const refusal = { code: 'too_many_requests', message: 'Too many requests from your network.' };
  return async (req, res, next) => {
    await spend(res, limit, clientOf(req), refusal, recordRefusal && (() => recordRefusal(req)));
    next();
  };
}
