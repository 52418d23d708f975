import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Router } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { redactForOperators, type Producer, type QueueName } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { clientOf } from '../limits/rate-limit.ts';

export const BOARD_PATH = '/admin/queues';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * HTTP Basic auth against ADMIN_USER / ADMIN_PASSWORD, compared in constant time (as digests, so
 * lengths leak nothing either). Failed attempts are limited per client address in the shared store.
 */
function requireOperator({ config, queues }: Pick<Deps, 'config' | 'queues'>): RequestHandler {
  const admin = config.admin!;
  const expected = digest(`${admin.user}:${admin.password}`);
  const failures = queues.rateLimiter({ keyPrefix: 'admin-login-failures', points: 10, duration: 15 * 60, blockDuration: 15 * 60 });
  const challenge = { 'WWW-Authenticate': 'Basic realm="cheershare operators", charset="UTF-8"' };
  return async (req, _res, next) => {
    // By client (IPv6 by /64), as the sign-in limits count, so stepping through a /64 buys no guesses.
    const key = clientOf(req);
    const blocked = await failures.get(key);
    if (blocked && blocked.consumedPoints >= 10) {
      throw new HttpError(429, 'too_many_attempts', 'Too many failed sign-ins to the operator board; try again later.', { 'Retry-After': String(Math.ceil(blocked.msBeforeNext / 1000)) });
    }
    const header = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(req.get('authorization') ?? '')?.[1];
    const given = header ? Buffer.from(header, 'base64').toString('utf8') : '';
    if (!timingSafeEqual(digest(given), expected)) {
      if (header) {
        const spent = await failures.penalty(key, 1);
        // The 10th failure starts a full 15 minutes, not what is left of the first one's window.
        if (spent.consumedPoints >= 10) await failures.block(key, 15 * 60);
      }
      throw new HttpError(401, 'unauthorized', 'Operator credentials are required.', challenge);
    }
    next();
  };
}

/**
 * Browsers replay Basic credentials on any request to this origin, so a page elsewhere could make
 * an operator's browser retry, clean or remove jobs. State-changing requests must come from the
 * board's own pages: Sec-Fetch-Site same-origin (or none: typed by the user), or an Origin equal
 * to ours. Scripts such as curl send neither header and are not a browser to trick.
 */
function refuseCrossSite(readOnly: boolean): RequestHandler {
  return (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    if (readOnly) throw new HttpError(403, 'read_only', 'The operator board is read-only (ADMIN_READ_ONLY).');
    const site = req.get('sec-fetch-site');
    const origin = req.get('origin');
    // The browser's own verdict wins when it gives one (a proxy may rewrite Host); otherwise the
    // Origin's host must be ours (host only: behind a TLS proxy the scheme seen here is http).
    const allowed = site !== undefined
      ? site === 'same-origin' || site === 'none'
      : origin === undefined || (URL.canParse(origin) && new URL(origin).host === req.get('host'));
    if (!allowed) throw new HttpError(403, 'cross_site_request', 'Changes to queues must come from the operator board itself.');
    next();
  };
}

/**
 * Bull Board for every queue, behind operator credentials. Job data and return values pass through
 * a redacting formatter (no code, token, secret or email address is shown). Returns nothing when
 * the board is off (ADMIN_USER / ADMIN_PASSWORD unset).
 */
export function operatorBoard(deps: Pick<Deps, 'config' | 'queues'>, producers: Producer<QueueName>[]): RequestHandler[] | undefined {
  const admin = deps.config.admin;
  if (!admin) return undefined;
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  const adapters = producers.map((p) => {
    const adapter = new BullMQAdapter(p.queue, { readOnlyMode: admin.readOnly, description: `${deps.queues.settings.kind} queue` });
    adapter.setFormatter('data', (data) => redactForOperators(data));
    adapter.setFormatter('returnValue', (value) => redactForOperators(value));
    return adapter;
  });
  createBullBoard({ queues: adapters, serverAdapter, options: { uiConfig: { boardTitle: 'cheershare queues' } } });
  return [requireOperator(deps), refuseCrossSite(admin.readOnly), serverAdapter.getRouter() as Router];
}
