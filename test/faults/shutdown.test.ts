// SIGTERM to each service while it is under load: it drains and exits 0, and nothing accepted is lost.
import { describe, it } from 'vitest';
import { makeImage, waitUntil } from '@cheershare/shared/testing';
import { lastFirstCopyAt, settle } from './ledger.ts';
import { startLoad, tally } from './load.ts';
import { creativeRow, report, signIn, startFaultStack, uploadCreative, type FaultStack } from './harness.ts';

/** Polls GET /readyz as a load balancer would; resolves the first moment it is not 200. */
function watchReadiness(base: string): { notReadyAt: () => number | undefined; stop: () => void } {
  let notReadyAt: number | undefined;
  let stopped = false;
  void (async () => {
    while (!stopped && notReadyAt === undefined) {
      const status = await fetch(`${base}/readyz`).then((r) => r.status, () => 0);
      if (status !== 200) notReadyAt = Date.now();
      else await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return { notReadyAt: () => notReadyAt, stop: () => void (stopped = true) };
}

describe.concurrent('SIGTERM under load', () => {
  it('api: not ready at once, keeps serving while the balancer notices, exits 0; every accepted code arrives', { timeout: 90_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      stack = await startFaultStack({ services: ['api', 'mailer'], env: { SHUTDOWN_DELAY_MS: '3000' } });
      const s = stack;
      const api = s.procs.api!;
      const load = startLoad(s.base, { clients: 4, paceMs: 20, label: 'term-api' });
      await waitUntil(() => load.accepted().length >= 20, 'load flowing', 20_000);
      const watcher = watchReadiness(s.base);
      const sigtermAt = Date.now();
      api.child.kill('SIGTERM');
      await waitUntil(() => watcher.notReadyAt() !== undefined, '/readyz to turn unready', 10_000).finally(watcher.stop);
      const notReadyAt = watcher.notReadyAt()!;
      // The balancer takes a few requests to notice; the draining API must still answer them.
      await waitUntil(() => load.since(notReadyAt).length >= 8 || api.child.exitCode !== null, 'requests after /readyz turned unready', 10_000);
      await load.stop();
      const exitCode = await api.exited;
      const exitAfterMs = Date.now() - sigtermAt;
      const ledger = await settle(s, load.outcomes, { timeoutMs: 30_000 });
      const exitCodes = await s.stop();
      const servedWhileNotReady = load.since(notReadyAt).filter((o) => o.status === 202).length;
      report('sigterm api under load', {
        requests: tally(load.outcomes), ...ledger, notReadyAfterMs: notReadyAt - sigtermAt, servedWhileNotReady, exitAfterMs, exitCodes,
      });
      // No request the balancer sent got a reset or a refusal.
      expect.soft(tally(load.outcomes)).toEqual({ 202: load.outcomes.length });
      expect.soft(notReadyAt - sigtermAt).toBeLessThan(1_000);
      expect.soft(servedWhileNotReady).toBeGreaterThanOrEqual(8);
      expect.soft(exitCode).toBe(0);
      expect.soft(ledger).toMatchObject({ lost: 0, duplicates: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0] });
    } finally {
      await stack?.stop();
    }
  });

  it('mailer: deliveries in flight finish, exits 0, a replacement takes the rest; none lost, none twice', { timeout: 90_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      stack = await startFaultStack({ services: ['api', 'mailer'] });
      const s = stack;
      s.sink.setDelay(300);
      const load = startLoad(s.base, { clients: 3, paceMs: 50, label: 'term-mailer' });
      await waitUntil(() => s.sink.mails.length >= 5 && s.sink.delayedAnswers > 0, 'deliveries in flight', 20_000);
      const inFlightAtSigterm = s.sink.delayedAnswers;
      const sigtermAt = Date.now();
      const exitCode = await s.procs.mailer!.stop('SIGTERM');
      const exitAfterMs = Date.now() - sigtermAt;
      const restartedAt = Date.now();
      await s.start('mailer');
      await waitUntil(() => load.since(restartedAt).length >= 10, 'requests after the replacement started', 20_000);
      await load.stop();
      const ledger = await settle(s, load.outcomes, { timeoutMs: 30_000 });
      const exitCodes = await s.stop();
      report('sigterm mailer under load', {
        requests: tally(load.outcomes), ...ledger, inFlightAtSigterm, exitAfterMs, recoverMs: lastFirstCopyAt(s.sink, load.outcomes.filter((o) => o.sentAt < restartedAt)) - sigtermAt, exitCodes,
      });
      expect.soft(exitCode).toBe(0);
      expect.soft(ledger).toMatchObject({ lost: 0, duplicates: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0, 0] });
    } finally {
      await stack?.stop();
    }
  });

  it('scheduler: the image in the works finishes, exits 0, a replacement takes the rest; every upload ends ready', { timeout: 120_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      stack = await startFaultStack();
      const s = stack;
      const { token } = await signIn(s);
      const image = await makeImage('jpeg', { width: 2400, height: 1800, noise: true });
      const uploads: { status: number; id: string | undefined; sentAt: number }[] = [];
      let uploading = true;
      const uploaders = [0, 1].map(async () => {
        while (uploading) uploads.push({ ...(await uploadCreative(s.base, token, image)), sentAt: Date.now() });
      });
      const first = s.procs.scheduler!;
      await waitUntil(() => uploads.length >= 4, 'uploads flowing', 20_000);
      // The signal comes while an image is in the works.
      const inTheWorks = await first.waitForLog((l) => l.msg === 'processing creative' && !first.logs.some((r) => r.msg === 'creative ready' && r.creativeId === l.creativeId), 30_000);
      const sigtermAt = Date.now();
      const exitCode = await first.stop('SIGTERM');
      const exitAfterMs = Date.now() - sigtermAt;
      const draining = first.logs.findIndex((l) => l.msg === 'draining');
      const finishedWhileDraining = draining < 0 ? [] : first.logs.slice(draining).filter((l) => l.msg === 'creative ready').map((l) => l.creativeId);
      const restartedAt = Date.now();
      await s.start('scheduler');
      await waitUntil(() => uploads.filter((u) => u.sentAt >= restartedAt).length >= 3, 'uploads after the replacement started', 30_000);
      uploading = false;
      await Promise.all(uploaders);
      const accepted = uploads.filter((u) => u.status === 202);
      const rows = () => Promise.all(accepted.map(async (u) => creativeRow(s.db, u.id ?? '')));
      await waitUntil(async () => (await rows()).every((r) => r?.status !== 'processing'), 'every upload processed', 60_000).catch(() => {});
      const settled = await rows();
      const final = settled.map((r) => r?.status ?? 'missing');
      const recoverMs = Math.max(...settled.map((r) => r?.processed_at?.getTime() ?? 0)) - restartedAt;
      const exitCodes = await s.stop();
      const count = (st: string) => final.filter((x) => x === st).length;
      report('sigterm scheduler under load', {
        uploads: tally(uploads), accepted: accepted.length, ready: count('ready'), rejected: count('rejected'),
        lost: accepted.length - count('ready') - count('rejected'), finishedWhileDraining: finishedWhileDraining.length, exitAfterMs, recoverMs, exitCodes,
      });
      expect.soft(exitCode).toBe(0);
      expect.soft(finishedWhileDraining).toContain(inTheWorks.creativeId);
      expect.soft(final).toEqual(accepted.map(() => 'ready'));
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0], scheduler: [0, 0] });
    } finally {
      await stack?.stop();
    }
  });
});
