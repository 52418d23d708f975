import type { RequestHandler } from 'express';
import { sql } from 'kysely';
import { z } from 'zod';
import { probe } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { publicJwks } from '../auth/keys.ts';

export const HealthSchema = z.object({ status: z.literal('ok') });
export const ReadinessSchema = z.object({ status: z.enum(['ready', 'unavailable']), checks: z.record(z.string(), z.boolean()) }).meta({ id: 'Readiness' });
export const JwksSchema = z.object({
  keys: z.array(z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string(), y: z.string(), kid: z.string(), use: z.literal('sig'), alg: z.literal('ES256') })),
}).meta({ id: 'Jwks' });

/** GET /healthz: the process is alive. */
export function handleHealthz(): RequestHandler {
  return (_req, res) => {
    res.json({ status: 'ok' });
  };
}

/** What readiness looks at, here and on the operator port: every value must be true. */
export async function readinessChecks({ db, queues, lifecycle }: Pick<Deps, 'db' | 'queues' | 'lifecycle'>) {
  const [database, queue] = await Promise.all([probe(() => sql`select 1`.execute(db)), probe(() => queues.ping())]);
  return { database, queue, not_draining: !lifecycle.draining };
}

/** GET /readyz: PostgreSQL and the queue store answer and the process is not draining. */
export function handleReadyz(deps: Pick<Deps, 'db' | 'queues' | 'lifecycle'>): RequestHandler {
  return async (_req, res) => {
    const checks = await readinessChecks(deps);
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks });
  };
}

/** GET /.well-known/jwks.json: public keys that verify our access tokens. */
export function handleJwks({ keys }: Pick<Deps, 'keys'>): RequestHandler {
  const body = publicJwks(keys);
  return (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(body);
  };
}
