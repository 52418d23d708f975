import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { databaseWritable, probe } from '@cheershare/shared';
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
export async function readinessChecks({ db, queues, lifecycle, storage }: Pick<Deps, 'db' | 'queues' | 'lifecycle' | 'storage'>) {
  const storageReady = probe(() => storage.ready()); // takes writes: a probe object put and removed
  // Writable, not merely answering: a standby database or a read-only Redis replica is not ready.
  const [database, queue] = await Promise.all([probe(() => databaseWritable(db)), probe(() => queues.writable())]);
  return { database, queue, storage: await storageReady, not_draining: !lifecycle.draining };
}

/** GET /readyz: PostgreSQL, the queue store and the file store take writes, and the process is not draining. */
export function handleReadyz(deps: Pick<Deps, 'db' | 'queues' | 'lifecycle' | 'storage'>): RequestHandler {
  return async (_req, res) => {
    const checks = await readinessChecks(deps);
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks });
  };
}

/**
 * How long a resource server may keep our JWKS: the wait, in a key rotation, between publishing a
 * new key and signing with it (README, Rotating keys). Five minutes keeps that wait short and the
 * fetches rare; verifiers that refetch on an unknown kid (jose's remote JWK Set does) need not wait.
 */
export const JWKS_MAX_AGE_SECONDS = 300;

/** GET /.well-known/jwks.json: public keys that verify our access tokens; 304 to a matching If-None-Match. */
export function handleJwks({ keys }: Pick<Deps, 'keys'>): RequestHandler {
  const body = JSON.stringify(publicJwks(keys));
  // The key set is fixed for the life of the process: one strong validator, the same on every replica with the same keys.
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return (req, res) => {
    res.set({ 'Cache-Control': `public, max-age=${JWKS_MAX_AGE_SECONDS}`, ETag: etag });
    const tags = req.get('if-none-match')?.split(',').map((t) => t.trim().replace(/^W\//, ''));
    if (tags?.includes(etag) || tags?.includes('*')) {
      res.status(304).end();
      return;
    }
    res.type('application/json').send(body);
  };
}
