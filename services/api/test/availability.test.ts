import { afterEach, describe, expect, it } from 'vitest';
import { testQueueBackend, uniqueEmail } from '@cheershare/shared/testing';
import { startApi, type TestApi } from './harness.ts';

// A port where nothing listens: the dependency is "down".
const DEAD_POSTGRES = 'postgres://postgres@127.0.0.1:1/none';
// The queue store alone down, on whichever backend this run uses (on PostgreSQL, queues can live
// in a database of their own: QUEUE_DATABASE_URL).
const DEAD_QUEUES: Record<string, string> = testQueueBackend() === 'redis' ? { REDIS_URL: 'redis://127.0.0.1:1' } : { QUEUE_DATABASE_URL: DEAD_POSTGRES };

describe('availability', () => {
  let api: TestApi | undefined;
  afterEach(async () => {
    await api?.app.stop();
    api = undefined;
  });

  it('is ready when PostgreSQL and the queue store answer, and not ready once draining', async () => {
    api = await startApi();
    const ready = await api.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ database: true, queue: true, storage: true, not_draining: true });
    api.lifecycle.draining = true;
    const draining = await api.request('GET', '/readyz');
    expect(draining.status).toBe(503);
    expect(draining.body.checks.not_draining).toBe(false);
    expect((await api.request('GET', '/healthz')).status).toBe(200);
  });

  it('answers 503 quickly when the queue store is down, and leaves no challenge behind', async () => {
    api = await startApi({ env: DEAD_QUEUES, dependencyDown: true });
    const email = uniqueEmail();
    const started = Date.now();
    const res = await api.request('POST', '/v1/auth/otp', { json: { email } });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('service_unavailable');
    expect(Date.now() - started).toBeLessThan(5_000);
    const left = await api.app.deps.db.selectFrom('otp_challenges').select('id').where('email', '=', email).execute();
    expect(left).toEqual([]);
    expect((await api.request('GET', '/readyz')).body.checks.queue).toBe(false);
  });

  it('answers 503 quickly when PostgreSQL is down', async () => {
    api = await startApi({ env: { DATABASE_URL: DEAD_POSTGRES }, dependencyDown: true });
    const started = Date.now();
    const res = await api.request('POST', '/v1/auth/otp', { json: { email: uniqueEmail() } });
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    const ready = await api.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database).toBe(false);
  });
});
