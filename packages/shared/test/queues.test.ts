import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueClient, creativeJobOptions, emailJobOptions, loadMigrateConfig, QueueUnavailableError, readStoredJob, redisDurabilityWarnings, type QueueClient, type QueueSettings } from '../src/index.ts';
import { startTcpProxy, testEnv, testQueueBackend } from '../src/testing/index.ts';

// Runs on whichever backend this test run found (CI runs the suite on both).
describe(`queue client (${testQueueBackend()} backend)`, () => {
  let settings: QueueSettings;
  const clients: QueueClient[] = [];
  const client = () => {
    const c = createQueueClient(settings);
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    settings = loadMigrateConfig(await testEnv()).queue;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });

  it('adds, finds, schedules and obliterates jobs through the producer', async () => {
    const email = client().producer('email', emailJobOptions({ attempts: 2, backoffMs: 100 }));
    const challengeId = randomUUID();
    await email.add('otp', { challengeId, sealedCode: 'v1.sealed' }, { jobId: `otp-${challengeId}` });
    expect((await email.getJob(`otp-${challengeId}`))?.data).toEqual({ challengeId, sealedCode: 'v1.sealed' });
    expect(await readStoredJob(settings, 'email', `otp-${challengeId}`)).toContain(challengeId);

    const maintenance = client().producer('maintenance', {});
    await maintenance.upsertScheduler('cleanup', { pattern: '0 3 1 1 *' }, { name: 'cleanup', data: {} });
    await maintenance.upsertScheduler('cleanup', { pattern: '0 4 1 1 *' }, { name: 'cleanup', data: {} });
    expect(await maintenance.schedulerIds()).toEqual(['cleanup']);
    // The second upsert replaced the first.
    expect((await maintenance.queue.getJobSchedulers()).map((s) => s.pattern)).toEqual(['0 4 1 1 *']);

    await email.obliterate();
    expect(await email.getJob(`otp-${challengeId}`)).toBeUndefined();
    await expect(client().ping()).resolves.toBeUndefined();
  });

  it('shares rate limits between clients, as between API replicas', async () => {
    const [a, b] = [client(), client()];
    const opts = { keyPrefix: `t-${randomUUID()}`, points: 3, duration: 60 };
    const [limitA, limitB] = [a.rateLimiter(opts), b.rateLimiter(opts)];
    await limitA.consume('203.0.113.7');
    await limitB.consume('203.0.113.7');
    await limitA.consume('203.0.113.7');
    const refused = await limitB.consume('203.0.113.7').then(() => undefined, (res: { msBeforeNext: number; remainingPoints: number }) => res);
    expect(refused?.remainingPoints).toBe(0);
    expect(refused?.msBeforeNext).toBeGreaterThan(50_000);
    // Another client's budget is its own.
    await expect(limitB.consume('198.51.100.1')).resolves.toMatchObject({ remainingPoints: 2 });
  });

  it('runs a job again when the worker that held it died mid-job (stalled-job recovery)', async () => {
    const c = client();
    const creatives = c.producer('creatives', { ...creativeJobOptions(), attempts: 1 });
    const creativeId = randomUUID();
    const quick = { lockDuration: 1_000, stalledInterval: 300 };
    let taken!: () => void;
    const held = new Promise<void>((resolve) => (taken = resolve));
    // A worker that takes the job and never finishes it, then dies without a word.
    const doomed = c.worker('creatives', () => {
      taken();
      return new Promise(() => {});
    }, quick);
    await creatives.add('process', { creativeId }, { jobId: `creative-${creativeId}` });
    await held;
    await doomed.close(true);
    expect(await (await creatives.getJob(`creative-${creativeId}`))?.getState()).toBe('active');

    const rescuer = c.worker('creatives', (job) => Promise.resolve(`done ${String(job.id)}`), quick);
    const stalled: string[] = [];
    rescuer.on('stalled', (jobId) => stalled.push(jobId));
    try {
      await expect.poll(async () => (await creatives.getJob(`creative-${creativeId}`))?.getState(), { timeout: 15_000, interval: 100 }).toBe('completed');
      expect((await creatives.getJob(`creative-${creativeId}`))?.returnvalue).toBe(`done creative-${creativeId}`);
      // It came back through BullMQ's stalled-job check, not some other path.
      expect(stalled).toEqual([`creative-${creativeId}`]);
    } finally {
      await rescuer.close();
    }
  });
});

describe('queue store durability warnings', () => {
  it('warns about a Redis that evicts or keeps nothing on disk, and not about a safe one', () => {
    expect(redisDurabilityWarnings({ policy: 'noeviction', appendonly: 'yes', save: '' })).toEqual([]);
    expect(redisDurabilityWarnings({ policy: 'noeviction', appendonly: 'no', save: '3600 1 300 100' })).toEqual([expect.stringMatching(/only snapshots .*since the last snapshot are lost/)]);
    const both = redisDurabilityWarnings({ policy: 'allkeys-lru', appendonly: 'no', save: '' });
    expect(both).toHaveLength(2);
    expect(both[0]).toMatch(/maxmemory-policy is "allkeys-lru".*noeviction/);
    expect(both[1]).toMatch(/lost if Redis restarts.*appendonly yes/);
  });
});

describe(`queue producers when the store was down at their first use (${testQueueBackend()} backend)`, () => {
  it('recover once the store is back: a request made during the outage is refused, later ones succeed', async () => {
    const base = loadMigrateConfig(await testEnv()).queue;
    const url = base.kind === 'postgres' ? base.url : base.topology.mode === 'standalone' ? base.topology.url : '';
    const target = new URL(url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const queues = createQueueClient(base.kind === 'postgres' ? { ...base, url: proxy.via(url) } : { ...base, topology: { mode: 'standalone', url: proxy.via(url) } });
    try {
      const email = queues.producer('email', emailJobOptions({ attempts: 1, backoffMs: 100 }));
      proxy.cut();
      const during = randomUUID();
      await expect(email.add('otp', { challengeId: during, sealedCode: 'v1.x' }, { jobId: `otp-${during}` })).rejects.toThrow(QueueUnavailableError);
      proxy.restore();
      const after = randomUUID();
      await expect.poll(async () => email.add('otp', { challengeId: after, sealedCode: 'v1.x' }, { jobId: `otp-${after}` }).then(() => 'queued', () => 'refused'), { timeout: 15_000, interval: 200 }).toBe('queued');
      expect((await email.getJob(`otp-${after}`))?.data.challengeId).toBe(after);
      await expect(queues.ping()).resolves.toBeUndefined();
    } finally {
      await queues.close();
      await proxy.close();
    }
  });
});
