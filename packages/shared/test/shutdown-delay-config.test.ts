import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../src/index.ts';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const prod = {
  NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', REDIS_URL: 'redis://cache:6379', UPLOAD_DIR: '/srv/uploads',
  JOB_ENCRYPTION_KEY: 'k'.repeat(32), OTP_HASH_SECRET: 's'.repeat(32), JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  SECRET_ENCRYPTION_KEY: 'e'.repeat(32),
};

describe('SHUTDOWN_DELAY_MS (api)', () => {
  it('defaults to 5 s in production, where a load balancer is in front, and to none elsewhere', () => {
    expect(loadApiConfig(prod).shutdownDelayMs).toBe(5_000);
    expect(loadApiConfig({}).shutdownDelayMs).toBe(0);
    expect(loadApiConfig({ NODE_ENV: 'test', SHUTDOWN_DELAY_MS: '1500' }).shutdownDelayMs).toBe(1_500);
    expect(loadApiConfig({ ...prod, SHUTDOWN_DELAY_MS: '0' }).shutdownDelayMs).toBe(0);
    // Empty means unset, as compose passes a variable .env leaves out.
    expect(loadApiConfig({ ...prod, SHUTDOWN_DELAY_MS: '' }).shutdownDelayMs).toBe(5_000);
  });

  it('must fit inside SHUTDOWN_GRACE_MS, which also bounds the drain after it', () => {
    expect(() => loadApiConfig({ SHUTDOWN_DELAY_MS: '20000' })).toThrow(
      /^invalid environment:\n {2}SHUTDOWN_DELAY_MS: must be less than SHUTDOWN_GRACE_MS \(20000\).*\(got 20000\)/,
    );
    expect(() => loadApiConfig({ ...prod, SHUTDOWN_GRACE_MS: '5000' })).toThrow(/SHUTDOWN_DELAY_MS: .*\(got 5000, the production default\): lower it or raise SHUTDOWN_GRACE_MS/);
    expect(loadApiConfig({ SHUTDOWN_DELAY_MS: '19999' }).shutdownDelayMs).toBe(19_999);
    expect(loadApiConfig({ SHUTDOWN_GRACE_MS: '0' }).shutdownDelayMs).toBe(0);
    expect(() => loadApiConfig({ SHUTDOWN_DELAY_MS: '-1' })).toThrow(/SHUTDOWN_DELAY_MS: must be at least 0/);
  });
});
