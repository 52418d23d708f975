// Several hosts on one machine (network namespaces on a bridge, as root; per-host loopback
// addresses otherwise, which the output says): what the operator saw break across hosts
// must hold, with every process in production mode and nothing shared but PostgreSQL, Redis
// (behind Sentinel) and the object store.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateIn } from '@cheershare/shared';
import { makeImage, uniqueEmail } from '@cheershare/shared/testing';
import { settle } from '../faults/ledger.ts';
import { tally } from '../faults/load.ts';
import { call, startLoad, type HostOutcome, type HostTarget } from './client.ts';
import { objectKeys, rowStates, unsent, until } from './diagnose.ts';
import { HOSTS, startMultiHost, type Host, type MultiHost } from './harness.ts';

const TASK = fileURLToPath(new URL('../../scripts/task.ts', import.meta.url));
let mh: MultiHost;
const report = (scenario: string, figures: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ scenario, mode: mh.topo.mode, ...figures })}\n`);
const accepted202 = (outcomes: HostOutcome[], host: string, since = 0) => outcomes.filter((o) => o.host === host && o.status === 202 && o.sentAt >= since).length;
const target = (h: Host): HostTarget => ({ name: h.name, api: h.api, ops: h.ops });

const bucketKeys = () => objectKeys(mh);

async function signIn(host: Host): Promise<string> {
  const email = uniqueEmail('mh-owner');
  const asked = await call(host.api, 'POST', '/v1/auth/otp', { json: { email } });
  expect(asked.status).toBe(202);
  const mail = await mh.sink.waitForMail((m) => m.to.includes(email) && !!m.code, 30_000);
  const verified = await call(host.api, 'POST', '/v1/auth/verify', { json: { challenge_id: asked.json.challenge_id, code: mail.code } });
  expect(verified.status).toBe(200);
  return verified.json.access_token as string;
}

describe('three hosts sharing only PostgreSQL, Redis (Sentinel) and S3', () => {
  beforeAll(async () => {
    mh = await startMultiHost();
    const { a, b, c } = mh.hosts;
    // The only scheduler at first is B's: whatever is processed, B processed.
    await Promise.all([...[a, b, c].flatMap((h) => [h.start('api'), h.start('mailer')]), b.start('scheduler')]);
  }, 180_000);

  afterAll(async () => {
    const pid = String(process.pid);
    await mh?.stop();
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    expect(left.split('\n').filter((l) => l.startsWith(`csmh${pid}-`))).toEqual([]);
  }, 60_000);

  it('a creative uploaded on A is processed by B and served by C (ETag, 304); a delete on C removes every object', { timeout: 60_000 }, async () => {
    const { a, b, c } = mh.hosts;
    const token = await signIn(a);
    const form = new FormData();
    form.append('scheduled_on', dateIn('UTC', new Date()));
    form.append('file', new Blob([new Uint8Array(await makeImage('jpeg', { width: 640, height: 480 }))]), 'picture.jpg');
    const uploaded = await call(a.api, 'POST', '/v1/creatives', { form, token });
    expect(uploaded.status).toBe(202);
    const id = uploaded.json.creative.id as string;

    let creative: any;
    await expect.poll(async () => {
      creative = (await call(c.api, 'GET', `/v1/creatives/${id}`, { token })).json?.creative;
      return creative?.status;
    }, { timeout: 30_000, interval: 200 }).toBe('ready');
    expect(b.procs.scheduler!.logs.some((l) => l.msg === 'processing creative' && l.creativeId === id)).toBe(true);
    expect([a.procs.scheduler, c.procs.scheduler]).toEqual([undefined, undefined]);

    const etags: string[] = [];
    for (const [path, type] of [[creative.image_url, 'image/jpeg'], [creative.thumbnail_url, 'image/webp']] as const) {
      const got = await call(c.api, 'GET', path, { token });
      expect(got.status).toBe(200);
      expect(got.headers['content-type']).toBe(type);
      expect(got.body.length).toBeGreaterThan(0);
      const etag = got.headers.etag ?? '';
      etags.push(etag);
      expect((await call(c.api, 'GET', path, { token, headers: { 'if-none-match': etag } })).status).toBe(304);
    }
    expect(etags[0]).toBe(`"${String(creative.sha256)}"`);
    expect(etags[1]).toMatch(/^"[^"]+"$/);
    const stored = await bucketKeys();
    expect(stored.length).toBeGreaterThanOrEqual(2);
    // Nothing on any host's own disk.
    for (const h of [a, b, c]) expect(readdirSync(join(h.dir, 'uploads'), { recursive: true })).toEqual([]);

    // The API marks it deleted; cleanup, run here from C by an operator, runs on B's scheduler and
    // removes its objects from the store, wherever they were written.
    expect((await call(c.api, 'DELETE', `/v1/creatives/${id}`, { token })).status).toBe(204);
    const cleanup = await c.run(TASK, ['cleanup', '--timeout', '30']);
    expect(cleanup.output).toMatch(/"deletedCreatives":1/);
    expect(cleanup.code).toBe(0);
    expect(await bucketKeys()).toEqual([]);
    expect((await call(a.api, 'GET', creative.image_url, { token })).status).toBe(404);
    report('creative across hosts', { objectsBeforeDelete: stored.length });
  });

  it('the Redis master crashes (Sentinel fails over), then host B is lost, under load: every accepted code delivered, none twice unrecorded', { timeout: 120_000 }, async () => {
    const { a, b, c } = mh.hosts;
    await Promise.all([a.start('scheduler'), c.start('scheduler')]);
    const load = startLoad([a, b, c].map(target), { label: 'mh-failover' });
    try {
      await until(mh, '5 codes accepted by every host', load, 0, () => HOSTS.every((h) => accepted202(load.outcomes, h) >= 5));
      const failoverAt = Date.now();
      const promoted = await mh.redis.failover();
      const promotedAt = Date.now();
      // Service resumes by itself on every host: nothing is restarted or reconfigured.
      await until(mh, '5 codes accepted by every host after the promotion', load, promotedAt, () => HOSTS.every((h) => accepted202(load.outcomes, h, promotedAt) >= 5));
      const resumedMs = Math.max(...HOSTS.map((h) => load.outcomes.find((o) => o.host === h && o.status === 202 && o.sentAt >= promotedAt)!.sentAt)) - promotedAt;

      const killedAt = Date.now();
      await b.kill();
      await until(mh, '10 codes accepted by A and by C after B died', load, killedAt, () => ['a', 'c'].every((h) => accepted202(load.outcomes, h, killedAt) >= 10));
      await load.stop();
      const ledger = await settle(mh, load.outcomes, { timeoutMs: 60_000 });
      report('redis master killed (sentinel failover), then host B killed', {
        promoted, promotionMs: promotedAt - failoverAt, resumedMs, killedMs: killedAt - failoverAt,
        requests: tally(load.outcomes), rows: await rowStates(mh, load.outcomes), unsent: await unsent(mh, load.outcomes, failoverAt), ...ledger,
      });
      expect(ledger.accepted).toBeGreaterThan(30);
      expect(ledger).toMatchObject({ lost: 0, duplicatesUnrecorded: 0, failedButSent: 0, refusedButSent: 0, delivered: ledger.accepted });
    } finally {
      await load.stop();
    }
  });

  it("host C's SIGTERM drains: clients that follow readiness never see a reset, and its work is done", { timeout: 90_000 }, async () => {
    const { a, c } = mh.hosts;
    const load = startLoad([a, c].map(target), { label: 'mh-drain' });
    try {
      await until(mh, '10 codes accepted by A and by C', load, 0, () => ['a', 'c'].every((h) => accepted202(load.outcomes, h) >= 10));
      const signalAt = Date.now();
      const exits = await Promise.all((['api', 'mailer', 'scheduler'] as const).map((s) => c.procs[s]!.stop('SIGTERM', 20_000)));
      const api = c.procs.api!;
      const closedAt = Number(api.logs.find((l) => l.msg === 'stopped accepting connections')?.time);
      const exitedAt = Date.now();
      await until(mh, 'codes accepted by A after C left', load, exitedAt, () => accepted202(load.outcomes, 'a', exitedAt) >= 5, 10_000);
      await load.stop();
      const ledger = await settle(mh, load.outcomes, { timeoutMs: 60_000 });
      const toC = load.outcomes.filter((o) => o.host === 'c');
      report('host C drained by SIGTERM', {
        requests: tally(load.outcomes), rows: await rowStates(mh, load.outcomes),
        toCInFlightAtSignal: toC.filter((o) => o.sentAt < signalAt && o.sentAt + o.ms > signalAt).length,
        toCAfterSignal: toC.filter((o) => o.sentAt >= signalAt).length, ...ledger,
      });
      expect(exits).toEqual([0, 0, 0]);
      expect(api.logs.some((l) => l.msg === 'draining: still accepting until load balancers notice')).toBe(true);
      // Clients left C when its /readyz said 503, before it stopped accepting; everything sent was answered.
      expect(Math.max(...toC.map((o) => o.sentAt))).toBeLessThan(closedAt);
      expect(toC.filter((o) => o.status !== 202)).toEqual([]);
      expect(ledger).toMatchObject({ lost: 0, duplicatesUnrecorded: 0, delivered: ledger.accepted });
    } finally {
      await load.stop();
    }
  });
});
