// PostgreSQL behind a TCP proxy: every connection reset, or the network gone silent (blackhole).
// On the PostgreSQL queue backend the queues sit behind the same proxy, as they would in production.
import { describe, inject, it } from 'vitest';
import { startTcpProxy, waitUntil, type TcpProxy } from '@cheershare/shared/testing';
import { settle } from './ledger.ts';
import { isAccepted, startLoad, tally, type Load, type Outcome } from './load.ts';
import { faultLasting, report, startFaultStack, type FaultStack } from './harness.ts';

async function proxiedStack(): Promise<{ proxy: TcpProxy; stack: FaultStack }> {
  const url = inject('databaseUrl');
  const target = new URL(url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  try {
    return { proxy, stack: await startFaultStack({ services: ['api', 'mailer'], env: { DATABASE_URL: proxy.via(url) } }) };
  } catch (err) {
    await proxy.close();
    throw err;
  }
}

/** Ms from `t` until a request sent at or after `t` was first accepted (Infinity if none was). */
function firstAcceptedAfter(load: Load, t: number): number {
  return Math.min(...load.since(t).filter(isAccepted).map((o) => o.sentAt + o.ms)) - t;
}

const statusesOtherThan = (outcomes: Outcome[], allowed: string[]) => Object.keys(tally(outcomes)).filter((st) => !allowed.includes(st));

describe.concurrent('PostgreSQL faults', () => {
  it('every connection reset, three times under load: 503s at most, recovery alone, everything accepted delivered', { timeout: 90_000 }, async ({ expect }) => {
    let proxy: TcpProxy | undefined;
    let stack: FaultStack | undefined;
    try {
      ({ proxy, stack } = await proxiedStack());
      const s = stack;
      const load = startLoad(s.base, { clients: 3, paceMs: 30, label: 'pg-reset' });
      const recoveries: number[] = [];
      let last = Date.now();
      for (let i = 0; i < 3; i += 1) {
        await waitUntil(() => load.since(last).filter(isAccepted).length >= 10, 'requests accepted', 30_000);
        last = Date.now();
        proxy.reset();
        await waitUntil(() => load.since(last).some(isAccepted), 'a request accepted after the reset', 30_000).catch(() => {});
        recoveries.push(firstAcceptedAfter(load, last));
      }
      await waitUntil(() => load.since(last).filter(isAccepted).length >= 10, 'requests accepted after the last reset', 30_000).catch(() => {});
      await load.stop();
      const ledger = await settle(s, load.outcomes, { timeoutMs: 60_000 });
      const exitCodes = await s.stop();
      report('postgres connections reset x3', { requests: tally(load.outcomes), ...ledger, firstAcceptedMsAfterEachReset: recoveries, exitCodes });
      expect.soft(statusesOtherThan(load.outcomes, ['202', '503'])).toEqual([]);
      expect.soft(Math.max(...recoveries)).toBeLessThan(5_000);
      expect.soft(ledger).toMatchObject({ lost: 0, duplicatesUnrecorded: 0, refusedButSent: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0] });
    } finally {
      await stack?.stop();
      await proxy?.close();
    }
  });

  it('blackhole for 10 s under load: 503 within 5 s, recovery alone, everything accepted delivered', { timeout: 120_000 }, async ({ expect }) => {
    let proxy: TcpProxy | undefined;
    let stack: FaultStack | undefined;
    try {
      ({ proxy, stack } = await proxiedStack());
      const s = stack;
      const load = startLoad(s.base, { clients: 3, paceMs: 30, label: 'pg-blackhole' });
      await waitUntil(() => load.accepted().length >= 15, 'load flowing', 20_000);
      const holeAt = Date.now();
      proxy.blackhole();
      await faultLasting(10_000);
      const restoredAt = Date.now();
      proxy.restore();
      await waitUntil(() => load.since(restoredAt).filter(isAccepted).length >= 15, 'requests accepted after the restore', 30_000).catch(() => {});
      await load.stop();
      const during = load.outcomes.filter((o) => o.sentAt >= holeAt && o.sentAt < restoredAt);
      const slowest = Math.max(0, ...during.map((o) => o.ms));
      const recoverMs = firstAcceptedAfter(load, restoredAt);
      const ledger = await settle(s, load.outcomes, { timeoutMs: 60_000 });
      const exitCodes = await s.stop();
      report('postgres blackhole 10 s', {
        requests: tally(load.outcomes), duringBlackhole: tally(during), slowestDuringBlackholeMs: slowest, ...ledger, firstAcceptedMsAfterRestore: recoverMs, exitCodes,
      });
      expect.soft(during.length).toBeGreaterThan(0);
      // Refused, or (caught just before the restore) accepted once the network was back.
      expect.soft(during.filter((o) => !(o.status === 503 || (o.status === 202 && o.sentAt + o.ms >= restoredAt)))).toEqual([]);
      expect.soft(slowest).toBeLessThan(5_000);
      expect.soft(recoverMs).toBeLessThan(10_000);
      expect.soft(ledger).toMatchObject({ lost: 0, duplicatesUnrecorded: 0, refusedButSent: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0] });
    } finally {
      await stack?.stop();
      await proxy?.close();
    }
  });
});
