// The queue server is Redis behind Sentinel (a master, a replica and three Sentinels of the
// scenario's own) and its master crashes under load: the API refuses quickly meanwhile, every
// process follows the promoted replica by itself, and when the old master comes back (a replica
// now) writes keep succeeding. One API replica is given REDIS_URL naming the first master, as was
// the only way before Sentinel support, to show what that did.
import { describe, it } from 'vitest';
import { makeImage, startRedisSentinels, uniqueEmail, waitUntil, type RedisSentinelSet, type ServiceProcess } from '@cheershare/shared/testing';
import { settle } from './ledger.ts';
import { burst, isAccepted, startLoad, tally, type Outcome } from './load.ts';
import { creativeRow, report, signIn, startFaultStack, uploadCreative, type FaultStack } from './harness.ts';

const during = (outcomes: Outcome[], from: number, to: number) => outcomes.filter((o) => o.sentAt >= from && o.sentAt < to);
const slowest = (outcomes: Outcome[]) => Math.max(0, ...outcomes.map((o) => o.ms));
const portOf = (proc: ServiceProcess, msg: string, field: 'port' | 'operatorPort') => Number(proc.logs.find((l) => l.msg === msg)?.[field]);

/** `times` readiness probes: how many said ready, and the checks of the last one. */
async function readiness(url: string, times = 16): Promise<{ ready: number; checks: unknown }> {
  let ready = 0;
  let checks: unknown;
  for (let i = 0; i < times; i += 1) {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (res.status === 200) ready += 1;
    checks = ((await res.json()) as { checks?: unknown }).checks;
  }
  return { ready, checks };
}

describe('queue server failover (Redis Sentinel)', () => {
  it('master crashes under load: 503s within the deadline, service resumes by itself after the promotion, every 202 delivered once; writes succeed once the old master is back as a replica', { timeout: 240_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    let set: RedisSentinelSet | undefined;
    try {
      set = await startRedisSentinels();
      const firstMaster = await set.master();
      stack = await startFaultStack({ env: { QUEUE_BACKEND: 'redis', REDIS_URL: '', ...set.env } });
      const s = stack;
      const byUrl = await s.start('api', { REDIS_URL: firstMaster.url, REDIS_SENTINELS: '', REDIS_SENTINEL_MASTER: '' });
      const byUrlBase = `http://127.0.0.1:${portOf(byUrl, 'api listening', 'port')}`;
      const { token } = await signIn(s);

      const load = startLoad(s.base, { clients: 3, paceMs: 50, label: 'sentinel' });
      await waitUntil(() => load.accepted().length >= 10, 'load flowing', 20_000);
      const { old, killedAt, promotedAt } = await set.failover();
      await waitUntil(() => load.since(promotedAt).filter(isAccepted).length >= 10, 'requests accepted again', 30_000).catch(() => {});
      const firstAcceptedAfterPromotion = Math.min(...load.since(killedAt).filter(isAccepted).map((o) => o.sentAt + o.ms));
      const rejoinedAt = await set.rejoin(old).then(() => Date.now());
      await waitUntil(() => load.since(rejoinedAt).filter(isAccepted).length >= 10, 'requests accepted with the old master back', 30_000).catch(() => {});
      await load.stop();

      // With the old master back as a replica: 16 writes and 16 readiness probes on each API replica.
      const sixteen = () => Array.from({ length: 16 }, () => uniqueEmail('after-rejoin'));
      const viaSentinels = await burst(s.base, sixteen());
      const viaUrl = await burst(byUrlBase, sixteen());
      const readyViaSentinels = await readiness(`${s.base}/readyz`);
      const readyViaUrl = await readiness(`${byUrlBase}/readyz`);
      const workersReady = {
        mailer: (await readiness(`http://127.0.0.1:${portOf(s.procs.mailer!, 'mailer-worker running', 'operatorPort')}/readyz`, 1)).ready,
        scheduler: (await readiness(`http://127.0.0.1:${portOf(s.procs.scheduler!, 'scheduler running', 'operatorPort')}/readyz`, 1)).ready,
      };
      const upload = await uploadCreative(s.base, token, await makeImage('jpeg'));
      await waitUntil(async () => (await creativeRow(s.db, upload.id ?? ''))?.status === 'ready', 'the creative processed', 30_000).catch(() => {});
      const creative = (await creativeRow(s.db, upload.id ?? ''))?.status;

      // The API replica on REDIS_URL refused its 16 (READONLY), so none of its outcomes is accepted.
      const ledger = await settle(s, [...load.outcomes, ...viaSentinels, ...viaUrl], { timeoutMs: 60_000 });
      const failover = during(load.outcomes, killedAt, promotedAt);
      const exitCodes = await s.stop();
      const figures = {
        requests: tally(load.outcomes), duringFailover: tally(failover), slowestAnswerDuringFailoverMs: slowest(failover),
        promotionMsAfterCrash: promotedAt - killedAt, firstAcceptedMsAfterPromotion: firstAcceptedAfterPromotion - promotedAt,
        afterRejoin: { viaSentinels: tally(viaSentinels), viaUrl: tally(viaUrl), readyViaSentinels, readyViaUrl, workersReady },
        creativeAfterFailover: creative, ...ledger, exitCodes,
      };
      report('queue server failover (Sentinel)', figures);
      expect.soft(Object.keys(tally(failover)).filter((st) => st !== '503' && st !== '202')).toEqual([]);
      expect.soft(slowest(failover)).toBeLessThan(5_000);
      expect.soft(firstAcceptedAfterPromotion - promotedAt).toBeLessThan(5_000);
      expect.soft(tally(viaSentinels)).toEqual({ 202: 16 });
      expect.soft(tally(viaUrl)).toEqual({ 503: 16 });
      expect.soft(readyViaSentinels.ready).toBe(16);
      expect.soft(readyViaUrl).toMatchObject({ ready: 0, checks: { database: true, queue: false, not_draining: true } });
      expect.soft(workersReady).toEqual({ mailer: 1, scheduler: 1 });
      expect.soft(creative).toBe('ready');
      expect.soft(ledger).toMatchObject({ lost: 0, duplicatesUnrecorded: 0, refusedButSent: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      // One process each from start to end (two APIs): everything followed the new master by itself.
      expect.soft(exitCodes).toEqual({ api: [0, 0], mailer: [0], scheduler: [0] });
    } finally {
      await stack?.stop();
      await set?.close();
    }
  });
});
