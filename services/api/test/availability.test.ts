import { afterEach, describe, expect, it } from 'vitest';
import { uniqueEmail } from '@cheershare/shared/testing';
import { startApi, type TestApi } from './harness.ts';

// A port where nothing listens: the dependency is "down".
const DEAD_REDIS = 'redis://127.0.0.1:1';
const DEAD_POSTGRES = 'postgres://postgres@127.0.0.1:1/none';

describe('availability', () => {
  let api: TestApi | undefined;
  afterEach(async () => {
    await api?.app.stop();
    api = undefined;
  });

  it('is ready when PostgreSQL and Redis answer, and not ready once draining', async () => {
    api = await startApi();
    const ready = await api.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ database: true, redis: true, draining: false });
    api.lifecycle.draining = true;
    const draining = await api.request('GET', '/readyz');
    expect(draining.status).toBe(503);
    expect(draining.body.checks.draining).toBe(true);
    expect((await api.request('GET', '/healthz')).status).toBe(200);
  });

  it('answers 503 quickly when Redis is down, and leaves no challenge behind', async () => {
    api = await startApi({ env: { REDIS_URL: DEAD_REDIS } });
    const email = uniqueEmail();
    const started = Date.now();
    const res = await api.request('POST', '/v1/auth/otp', { json: { email } });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('service_unavailable');
    expect(Date.now() - started).toBeLessThan(5_000);
    const left = await api.app.deps.db.selectFrom('otp_challenges').select('id').where('email', '=', email).execute();
    expect(left).toEqual([]);
    expect((await api.request('GET', '/readyz')).body.checks.redis).toBe(false);
  });

  it('answers 503 quickly when PostgreSQL is down', async () => {
    api = await startApi({ env: { DATABASE_URL: DEAD_POSTGRES } });
    const started = Date.now();
    const res = await api.request('POST', '/v1/auth/otp', { json: { email: uniqueEmail() } });
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    const ready = await api.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database).toBe(false);
  });
});
