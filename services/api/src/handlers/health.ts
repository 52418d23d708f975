import type { RequestHandler } from 'express';
import { sql } from 'kysely';
import type { Deps } from '../deps.ts';
import { publicJwks } from '../auth/keys.ts';

/** GET /healthz: the process is alive. */
export function handleHealthz(): RequestHandler {
  return (_req, res) => {
    res.json({ status: 'ok' });
  };
}

async function probe(check: () => Promise<unknown>, ms = 1_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** GET /readyz: PostgreSQL and the queue store answer and the process is not draining. */
export function handleReadyz({ db, queues, lifecycle }: Pick<Deps, 'db' | 'queues' | 'lifecycle'>): RequestHandler {
  return async (_req, res) => {
    const [database, queue] = await Promise.all([probe(() => sql`select 1`.execute(db)), probe(() => queues.ping())]);
    const draining = lifecycle.draining;
    const ready = database && queue && !draining;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: { database, queue, draining } });
  };
}

/** GET /.well-known/jwks.json: public keys that verify our access tokens. */
export function handleJwks({ keys }: Pick<Deps, 'keys'>): RequestHandler {
  const body = publicJwks(keys);
  return (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(body);
  };
}
