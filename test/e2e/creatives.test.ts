import { afterEach, describe, expect, it } from 'vitest';
import { createQueueClient, dateIn, loadSchedulerConfig } from '@cheershare/shared';
import { hostileFiles, makeImage, startService, uniqueEmail, type ReceivedMail } from '@cheershare/shared/testing';
import { SCHEDULER_ENTRY, startStack, type Stack } from './stack.ts';

describe('creatives, end to end (api + scheduler + mailer-worker as processes)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function signIn(s: Stack) {
    const email = uniqueEmail();
    const { challengeId, code } = await s.requestCode(email);
    const tokens = (await s.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } })).body;
    return { email, token: tokens.access_token as string };
  }

  async function upload(s: Stack, token: string, file: Buffer, scheduledOn: string) {
    const fd = new FormData();
    fd.append('scheduled_on', scheduledOn);
    fd.append('file', new Blob([new Uint8Array(file)]), 'picture.jpg');
    const res = await fetch(`${s.base}/v1/creatives`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: fd });
    return { status: res.status, body: (await res.json()) as any };
  }

  async function settled(s: Stack, token: string, id: string) {
    let creative: any;
    await expect.poll(async () => {
      creative = (await s.call('GET', `/v1/creatives/${id}`, { token })).body.creative;
      return creative.status;
    }, { timeout: 20_000, interval: 100 }).not.toBe('processing');
    return creative;
  }

  it('upload → processed → in the feed → exactly one digest email, even with the digest running every 2 s', async () => {
    // A digest every two seconds: idempotency, not luck, keeps it to one email per owner and day.
    stack = await startStack({ DIGEST_CRON: '*/2 * * * * *' }, { scheduler: true });
    const s = stack;
    const { email, token } = await signIn(s);
    const today = dateIn('UTC', new Date());
    const uploaded = await upload(s, token, await makeImage('jpeg', { width: 640, height: 480, withGps: true }), today);
    expect(uploaded.status).toBe(202);
    const creative = await settled(s, token, uploaded.body.creative.id);
    expect(creative).toMatchObject({ status: 'ready', mime: 'image/jpeg', width: 640, height: 480 });

    const image = await fetch(`${s.base}${creative.image_url}`, { headers: { authorization: `Bearer ${token}` } });
    expect(image.headers.get('etag')).toBe(`"${creative.sha256}"`);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    const thumb = await fetch(`${s.base}${creative.thumbnail_url}`, { headers: { authorization: `Bearer ${token}` } });
    expect(thumb.headers.get('content-type')).toBe('image/webp');

    const viewer = await signIn(s);
    const feed = await s.call('GET', '/v1/creatives/scheduled?tz=UTC', { token: viewer.token });
    expect(feed.body.today.map((c: { id: string }) => c.id)).toContain(creative.id);

    const isDigest = (m: ReceivedMail) => m.to.includes(email) && /live/i.test(m.headers.get('subject') ?? '');
    const digest = await s.sink.waitForMail(isDigest, 15_000);
    expect(digest.raw).toContain(today);
    // At least two whole runs after the one that mailed (whose own line may come after the email:
    // hence three), then every email job they queued handled: a second email would be in the sink.
    const runs = () => s.scheduler!.logs.filter((l) => l.msg === 'daily digest queued' && l.day === today).length;
    const runsAtFirstEmail = runs();
    await expect.poll(runs, { timeout: 15_000, interval: 200 }).toBeGreaterThanOrEqual(runsAtFirstEmail + 3);
    const queues = createQueueClient(loadSchedulerConfig(s.env).queue);
    try {
      const emails = queues.producer('email', {}).queue;
      await expect.poll(async () => Object.values(await emails.getJobCounts('waiting', 'prioritized', 'delayed', 'active')).reduce((a, b) => a + b, 0), { timeout: 10_000 })
        .toBe(0);
    } finally {
      await queues.close();
    }
    expect(s.sink.mails.filter(isDigest)).toHaveLength(1);
  });

  it('rejects a PNG header on garbage after upload and emails the owner why', async () => {
    stack = await startStack({}, { scheduler: true });
    const s = stack;
    const { email, token } = await signIn(s);
    const uploaded = await upload(s, token, hostileFiles.pngHeaderOnGarbage(), dateIn('UTC', new Date()));
    expect(uploaded.status).toBe(202);
    const creative = await settled(s, token, uploaded.body.creative.id);
    expect(creative.status).toBe('rejected');
    expect(creative.rejection_reason).toBeTruthy();
    const mail = await s.sink.waitForMail((m) => m.to.includes(email) && /not accepted/i.test(m.headers.get('subject') ?? ''));
    expect(mail.raw).toContain('Reason');
    expect((await s.call('GET', `/v1/creatives/${creative.id}/image`, { token })).status).toBe(404);
  });

  it('SIGTERM while a creative is being processed: it finishes and is marked, then the scheduler exits 0', async () => {
    stack = await startStack({}, { scheduler: true });
    const s = stack;
    const { token } = await signIn(s);
    const big = await makeImage('jpeg', { width: 3200, height: 2400, noise: true });
    const uploaded = await upload(s, token, big, dateIn('UTC', new Date()));
    expect(uploaded.status).toBe(202);
    const id = uploaded.body.creative.id as string;
    await s.scheduler!.waitForLog((l) => l.msg === 'processing creative' && l.creativeId === id);
    const exit = s.scheduler!.stop('SIGTERM');
    expect(await exit).toBe(0);
    const logs = s.scheduler!.logs;
    const draining = logs.findIndex((l) => l.msg === 'draining');
    const ready = logs.findIndex((l) => l.msg === 'creative ready' && l.creativeId === id);
    expect(ready).toBeGreaterThan(-1);
    // The signal arrived while the image was in the works, and the work still finished.
    expect(draining).toBeLessThan(ready);
    expect((await s.call('GET', `/v1/creatives/${id}`, { token })).body.creative.status).toBe('ready');
  });

  it('a restarted scheduler does not duplicate its job schedulers', async () => {
    stack = await startStack({}, { scheduler: true });
    const s = stack;
    expect(await s.scheduler!.stop('SIGTERM')).toBe(0);
    const restarted = startService(SCHEDULER_ENTRY, s.env);
    await restarted.waitForLog((l) => l.msg === 'scheduler running');
    const queues = createQueueClient(loadSchedulerConfig(s.env).queue);
    try {
      expect((await queues.producer('maintenance', {}).schedulerIds()).sort()).toEqual(['cleanup', 'daily-digest']);
    } finally {
      await queues.close();
      expect(await restarted.stop('SIGTERM')).toBe(0);
    }
  });
});
