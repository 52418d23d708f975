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
 * live in the queue store): a limit that cannot be checked is not waived.
 */
export async function spend(res: Response, limit: SharedLimit, key: string, refusal: { code: string; message: string }): Promise<void> {
  try {
    setHeaders(res, limit, await limit.limiter.consume(key));
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw new QueueUnavailableError(`limit ${limit.name}: ${(err as Error).message}`, { cause: err });
    setHeaders(res, limit, err);
    limit.refused();
    const retry = String(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
    throw new HttpError(429, refusal.code, `${refusal.message} Try again in ${retry} s.`, { 'Retry-After': retry });
  }
}

/** Middleware: one point of `limit` per request from a client, before any other work. */
export function limitPerClient(limit: SharedLimit): RequestHandler {
  const refusal = { code: 'too_many_requests', message: 'Too many requests from your network.' };
  return async (req, res, next) => {
    await spend(res, limit, clientOf(req), refusal);
    next();
  };
}
