// The queue server (a Redis of the scenario's own, in both CI runs) goes down and comes back: the
// API refuses quickly meanwhile, and the running workers resume without a restart.
import { describe, it } from 'vitest';
import { createQueueClient, type QueueClient } from '@cheershare/shared';
import { makeImage, startRedisServer, waitUntil, type RedisServer } from '@cheershare/shared/testing';
import { lastFirstCopyAt, settle } from './ledger.ts';
import { isAccepted, startLoad, tally, type Outcome } from './load.ts';
import { creativeRow, faultLasting, report, signIn, startFaultStack, uploadCreative, type FaultStack } from './harness.ts';

const during = (outcomes: Outcome[], from: number, to: number) => outcomes.filter((o) => o.sentAt >= from && o.sentAt < to);
const slowest = (outcomes: Outcome[]) => Math.max(0, ...outcomes.map((o) => o.ms));
/** Answer times (ms) at the median and the slowest, with the status of the slowest. */
const latency = (outcomes: Outcome[]) => {
  const sorted = [...outcomes].sort((a, b) => a.ms - b.ms);
  return { p50: sorted[Math.floor(sorted.length / 2)]?.ms, max: sorted.at(-1)?.ms, slowestStatus: sorted.at(-1)?.status };
};

/** Uploads an image and waits until its creative is ready: the scheduler's worker is consuming. */
async function creativeProcessed(s: FaultStack, token: string): Promise<{ status: string | undefined; ms: number }> {
  const started = Date.now();
  const upload = await uploadCreative(s.base, token, await makeImage('jpeg'));
  await waitUntil(async () => (await creativeRow(s.db, upload.id ?? ''))?.status === 'ready', 'the creative processed', 30_000).catch(() => {});
  return { status: (await creativeRow(s.db, upload.id ?? ''))?.status, ms: Date.now() - started };
}

describe.concurrent('queue server outage', () => {
  it('down 10 s (crash, append-only file), then back: 503s meanwhile, everything accepted delivered, no restart', { timeout: 120_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    let redis: RedisServer | undefined;
    try {
      redis = await startRedisServer({ appendonly: true, appendfsync: 'always' });
      stack = await startFaultStack({ env: { QUEUE_BACKEND: 'redis', REDIS_URL: redis.url } });
      const s = stack;
      const { token } = await signIn(s);
      const load = startLoad(s.base, { clients: 3, paceMs: 50, label: 'queue-10s' });
      await waitUntil(() => load.accepted().length >= 10, 'load flowing', 20_000);
      const downAt = Date.now();
      await redis.stop('kill');
      await faultLasting(10_000);
      const upAt = Date.now();
      await redis.start();
      await waitUntil(() => load.since(upAt).filter(isAccepted).length >= 10, 'requests accepted again', 30_000).catch(() => {});
      await load.stop();
      const outage = during(load.outcomes, downAt, upAt);
      const firstAcceptedAfterUp = Math.min(...load.since(upAt).filter(isAccepted).map((o) => o.sentAt + o.ms));
      const creative = await creativeProcessed(s, token);
      const ledger = await settle(s, load.outcomes, { timeoutMs: 60_000 });
      const exitCodes = await s.stop();
      report('queue server down 10 s', {
        requests: tally(load.outcomes), duringOutage: tally(outage), outageAnswerMs: latency(outage), ...ledger,
        firstAcceptedMsAfterBack: firstAcceptedAfterUp - upAt, backlogDeliveredMsAfterBack: lastFirstCopyAt(s.sink, load.outcomes.filter((o) => o.sentAt < upAt)) - upAt,
        creativeAfterBack: creative, exitCodes,
      });
      expect.soft(Object.keys(tally(outage)).filter((st) => st !== '503' && st !== '202')).toEqual([]);
      expect.soft(slowest(outage)).toBeLessThan(5_000);
      expect.soft(firstAcceptedAfterUp - upAt).toBeLessThan(10_000);
      expect.soft(ledger).toMatchObject({ lost: 0, duplicatesUnrecorded: 0, refusedButSent: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      expect.soft(creative.status).toBe('ready');
      // One process each from start to end: the workers resumed by themselves.
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0], scheduler: [0] });
    } finally {
      await stack?.stop();
      await redis?.close();
    }
  });

  it('down 90 s and back empty: 503s meanwhile, idle workers stop at once, recurring jobs come back, workers resume', { timeout: 200_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    let redis: RedisServer | undefined;
    let maintenance: QueueClient | undefined;
    try {
      redis = await startRedisServer({ appendonly: false });
      stack = await startFaultStack({ env: { QUEUE_BACKEND: 'redis', REDIS_URL: redis.url, SCHEDULE_REASSERT_MS: '5000' } });
      const s = stack;
      const maintenanceQueue = (maintenance = createQueueClient({ kind: 'redis', topology: { mode: 'standalone', url: redis.url }, prefix: s.env.QUEUE_PREFIX! })).producer('maintenance', {});
      const schedulerIds = () => maintenanceQueue.schedulerIds().then((ids) => ids.sort(), () => []);
      const { token } = await signIn(s);
      // What is accepted before the outage is delivered before it: a server without persistence loses its queue.
      const before = startLoad(s.base, { clients: 3, paceMs: 50, label: 'queue-90s' });
      await waitUntil(() => before.accepted().length >= 10, 'load flowing', 20_000);
      await before.stop();
      const beforeLedger = await settle(s, before.outcomes, { timeoutMs: 30_000 });
      // Replicas with nothing to do, stopped while the server is away.
      const idle = [await s.start('mailer'), await s.start('scheduler')];

      const downAt = Date.now();
      await redis.stop('kill');
      // Probes from here on, so the idle replicas never had a job to hold.
      const probes = startLoad(s.base, { clients: 2, paceMs: 200, label: 'queue-90s-probe' });
      await waitUntil(() => probes.since(downAt).some((o) => o.status === 503), 'the outage seen by the API', 15_000);
      const idleStops = await Promise.all(idle.map(async (proc) => {
        const t = Date.now();
        const code = await proc.stop('SIGTERM', 30_000);
        return { code, ms: Date.now() - t };
      }));
      await faultLasting(90_000 - (Date.now() - downAt));
      const upAt = Date.now();
      await redis.start();
      await waitUntil(() => probes.since(upAt).filter(isAccepted).length >= 10, 'requests accepted again', 60_000).catch(() => {});
      const firstAcceptedAfterUp = Math.min(...probes.since(upAt).filter(isAccepted).map((o) => o.sentAt + o.ms));
      await probes.stop();
      await waitUntil(async () => (await schedulerIds()).length === 2, 'recurring jobs back', 30_000).catch(() => {});
      const schedulersBackMs = Date.now() - upAt;
      const schedulers = await schedulerIds();
      const creative = await creativeProcessed(s, token);
      const ledger = await settle(s, probes.outcomes, { timeoutMs: 60_000 });
      const outage = during(probes.outcomes, downAt, upAt);
      const exitCodes = await s.stop();
      report('queue server down 90 s, back empty', {
        before: beforeLedger, requests: tally(probes.outcomes), duringOutage: tally(outage), outageAnswerMs: latency(outage), ...ledger,
        idleWorkersStopped: idleStops, firstAcceptedMsAfterBack: firstAcceptedAfterUp - upAt, schedulersBackMs, creativeAfterBack: creative, exitCodes,
      });
      expect.soft(beforeLedger).toMatchObject({ lost: 0 });
      // A request the outage caught may also wait for the server and be accepted: it is then delivered (the ledger).
      expect.soft(Object.keys(tally(outage)).filter((st) => st !== '503' && st !== '202')).toEqual([]);
      expect.soft(outage.filter((o) => o.status === 503).length).toBeGreaterThan(outage.length / 2);
      expect.soft(slowest(outage)).toBeLessThan(5_000);
      expect.soft(idleStops.map((x) => x.code)).toEqual([0, 0]);
      expect.soft(Math.max(...idleStops.map((x) => x.ms))).toBeLessThan(3_000);
      expect.soft(firstAcceptedAfterUp - upAt).toBeLessThan(15_000);
      expect.soft(schedulers).toEqual(['cleanup', 'daily-digest']);
      expect.soft(ledger).toMatchObject({ lost: 0, duplicatesUnrecorded: 0, refusedButSent: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      expect.soft(creative.status).toBe('ready');
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0, 0], scheduler: [0, 0] });
    } finally {
      await maintenance?.close();
      await stack?.stop();
      await redis?.close();
    }
  });
});
