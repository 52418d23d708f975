// The queue server is a Redis Cluster of three masters of the scenario's own: every service runs on
// it with the operator's plain QUEUE_PREFIX (the hash tag is the project's), under load, and an API
// given one cluster node as REDIS_URL says it is not ready instead of answering 200.
import { createQueueClient } from '@cheershare/shared';
import { makeImage, startRedisCluster, waitUntil, type RedisClusterSet } from '@cheershare/shared/testing';
import { describe, it } from 'vitest';
import { settle } from './ledger.ts';
import { startLoad, tally } from './load.ts';
import { creativeRow, report, signIn, startFaultStack, uploadCreative, type FaultStack } from './harness.ts';

describe('queue server on a Redis Cluster', () => {
  it('every service works with QUEUE_PREFIX=plain: codes delivered once, creative processed, recurring jobs set, ready; one node by URL is not ready', { timeout: 180_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    let cluster: RedisClusterSet | undefined;
    try {
      cluster = await startRedisCluster();
      stack = await startFaultStack({ env: { QUEUE_BACKEND: 'redis', REDIS_URL: '', ...cluster.env } });
      const s = stack;
      // Starting a second api replaces procs.api: keep the cluster client's process to read its logs.
      const clusterApi = s.procs.api!;
      const byUrl = await s.start('api', { REDIS_URL: `redis://127.0.0.1:${cluster.nodes[0]!.port}`, REDIS_CLUSTER_NODES: '' });
      const byUrlBase = `http://127.0.0.1:${String(byUrl.logs.find((l) => l.msg === 'api listening')?.port)}`;
      const { token } = await signIn(s);
      const load = startLoad(s.base, { clients: 3, paceMs: 50, label: 'cluster' });
      await waitUntil(() => load.accepted().length >= 60, 'load accepted', 30_000).catch(() => {});
      await load.stop();
      const upload = await uploadCreative(s.base, token, await makeImage('jpeg'));
      await waitUntil(async () => (await creativeRow(s.db, upload.id ?? ''))?.status === 'ready', 'the creative processed', 30_000).catch(() => {});
      const creative = (await creativeRow(s.db, upload.id ?? ''))?.status;
      const queues = createQueueClient({ kind: 'redis', topology: { mode: 'cluster', nodes: cluster.nodes }, prefix: s.env.QUEUE_PREFIX! });
      const schedulers = await queues.producer('maintenance', {}).schedulerIds().then((ids) => ids.sort(), (err: Error) => [err.message]);
      await queues.close();
      const ready = await fetch(`${s.base}/readyz`).then((r) => r.status);
      const byUrlReady = await fetch(`${byUrlBase}/readyz`).then(async (r) => ({ status: r.status, checks: ((await r.json()) as { checks: unknown }).checks }));
      const ledger = await settle(s, load.outcomes, { timeoutMs: 60_000 });
      // Every cluster client (not the api given one node by URL, which meets redirects by design).
      const clients = { api: clusterApi, mailer: s.procs.mailer!, scheduler: s.procs.scheduler! };
      const crossSlot = Object.entries(clients).flatMap(([name, p]) => p.output.filter((l) => /CROSSSLOT|MOVED/.test(l)).map((l) => `${name}: ${l.slice(0, 200)}`));
      const exitCodes = await s.stop();
      report('queue server on a Redis Cluster', { requests: tally(load.outcomes), ...ledger, creative, schedulers, ready, byUrlReady, crossSlot: crossSlot.length, exitCodes });
      expect.soft(tally(load.outcomes)).toEqual({ 202: load.outcomes.length });
      expect.soft(ledger).toMatchObject({ lost: 0, duplicates: 0, refusedButSent: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      expect.soft(creative).toBe('ready');
      expect.soft(schedulers).toEqual(['cleanup', 'daily-digest']);
      expect.soft(ready).toBe(200);
      expect.soft(byUrlReady).toMatchObject({ status: 503, checks: { queue: false } });
      expect.soft(crossSlot).toEqual([]);
      expect.soft(exitCodes).toEqual({ api: [0, 0], mailer: [0], scheduler: [0] });
    } finally {
      await stack?.stop();
      await cluster?.close();
    }
  });
});
