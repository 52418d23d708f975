import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startService, testEnv, testQueueBackend } from '@cheershare/shared/testing';
import { API_ENTRY, MAILER_ENTRY, SCHEDULER_ENTRY } from './stack.ts';

// The queue store alone unreachable, on this run's backend.
const DEAD_QUEUES: Record<string, string> = testQueueBackend() === 'redis'
  ? { REDIS_URL: 'redis://127.0.0.1:1' }
  : { QUEUE_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' };

describe('workers that cannot start', () => {
  it('says so when the operator port is taken, not that the queue store is down', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const port = String((taken.address() as { port: number }).port);
      const worker = startService(MAILER_ENTRY, await testEnv({ METRICS_PORT: port, LOG_LEVEL: 'info' }));
      expect(await worker.exited).toBe(1);
      expect(worker.logs.filter((l) => l.level === 60).map((l) => l.msg)).toEqual(['cannot listen: the operator port is taken (METRICS_PORT): stop what uses it or choose another']);
    } finally {
      taken.close();
    }
  }, 30_000);
});

describe('workers that cannot reach their queue store at start', () => {
  it.each([['mailer-worker', MAILER_ENTRY], ['scheduler', SCHEDULER_ENTRY]])('%s says so in one line and exits 1, instead of retrying for ever', async (_name, entry) => {
    const worker = startService(entry, await testEnv({ ...DEAD_QUEUES, LOG_LEVEL: 'info' }, { prepareQueues: false }));
    const started = Date.now();
    expect(await worker.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    const fatal = worker.logs.filter((l) => l.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toMatch(/could not start: is the queue store reachable and migrated\? \(npm run migrate\)/);
  }, 30_000);
});

describe('a service with the published development secrets', () => {
  it('refuses to listen beyond loopback, whatever NODE_ENV says, and says what to do', async () => {
    const api = startService(API_ENTRY, await testEnv({ HOST: '0.0.0.0', PORT: '0', NODE_ENV: 'development' }, { prepareQueues: false }));
    expect(await api.exited).toBe(1);
    expect(api.output).toContain('  HOST: must be loopback (127.0.0.1, ::1, localhost) while JOB_ENCRYPTION_KEY, OTP_HASH_SECRET, JWT_PRIVATE_KEY, '
      + 'SECRET_ENCRYPTION_KEY are the published development values (got "0.0.0.0"): set them to private values, or HOST=127.0.0.1');
    expect(api.logs.some((l) => l.msg === 'api listening')).toBe(false);
  }, 30_000);
});
