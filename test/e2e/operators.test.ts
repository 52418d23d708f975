import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueClient, emailJobOptions, loadMailerConfig } from '@cheershare/shared';
import { makeImage, parsePrometheusText, startService, startTcpProxy, testEnv, uniqueEmail, type Exposition } from '@cheershare/shared/testing';
import { MAILER_ENTRY, startStack, type Stack } from './stack.ts';

async function scrape(port: number): Promise<Exposition> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

const value = (m: Exposition, name: string, labels: Record<string, string>) => m.value(name, labels);

describe('operator ports: health, readiness and Prometheus metrics of every service', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ SMTP_TIMEOUT_MS: '2000' }, { scheduler: true });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('serves /healthz and /readyz on each operator port, and /metrics never on the public port', async () => {
    for (const port of [stack.operators.api, stack.operators.mailer, stack.operators.scheduler!]) {
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(Object.values(((await ready.json()) as { checks: Record<string, boolean> }).checks).every(Boolean)).toBe(true);
      expect((await fetch(`http://127.0.0.1:${port}/nothing`)).status).toBe(404);
    }
    expect((await stack.call('GET', '/metrics')).status).toBe(404);
    expect((await stack.call('GET', '/readyz')).status).toBe(200);
  });

  it('counts what happens where it happens, in text a Prometheus parser reads', async () => {
    const email = uniqueEmail();
    const { challengeId, code } = await stack.requestCode(email);
    expect((await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code: '000000' === code ? '111111' : '000000' } })).status).toBe(401);
    const signedIn = await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } });
    expect(signedIn.status).toBe(200);
    const token = signedIn.body.access_token as string;
    expect((await stack.call('GET', `/v1/creatives/${crypto.randomUUID()}`, { token })).status).toBe(404);

    // An upload that turns out not to decode, so the scheduler rejects it with a reason.
    const form = new FormData();
    const garbage = Buffer.concat([(await makeImage('png')).subarray(0, 16), Buffer.alloc(2_000, 7)]);
    form.append('scheduled_on', new Date().toISOString().slice(0, 10));
    form.append('file', new Blob([garbage]), 'broken.png');
    const upload = await fetch(`${stack.base}/v1/creatives`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    expect(upload.status).toBe(202);

    const api = await scrape(stack.operators.api);
    expect(api.samples.find((x) => x.name === 'process_cpu_seconds_total')?.labels.service).toBe('api');
    expect(api.types.get('cheershare_http_request_duration_seconds')).toBe('histogram');
    expect(value(api, 'cheershare_otp_codes_total', { event: 'requested', reason: '' })).toBe(1);
    expect(value(api, 'cheershare_otp_codes_total', { event: 'verified', reason: '' })).toBe(1);
    expect(value(api, 'cheershare_otp_codes_total', { event: 'failed', reason: '' })).toBe(1);
    expect(value(api, 'cheershare_otp_codes_total', { event: 'suppressed', reason: '' })).toBe(0);
    expect(value(api, 'cheershare_rate_limited_total', { limit: 'otp' })).toBe(0);
    // Route templates, never raw ids.
    const routes = api.samples.filter((x) => x.name === 'cheershare_http_request_duration_seconds_count').map((x) => x.labels.route!);
    expect(routes).toContain('/v1/creatives/:id');
    expect(routes.some((r) => /[0-9a-f]{8}-/.test(r))).toBe(false);
    expect(value(api, 'cheershare_http_request_duration_seconds_count', { route: '/v1/auth/verify', status: '401' })).toBe(1);
    expect(api.samples.filter((x) => x.name === 'cheershare_queue_jobs').map((x) => `${x.labels.queue}/${x.labels.state}`))
      .toEqual(expect.arrayContaining(['email/completed', 'creatives/waiting', 'creatives/active']));
    // Depth is read from the store: the delivered codes show as completed email jobs.
    await expect.poll(async () => value(await scrape(stack.operators.api), 'cheershare_queue_jobs', { queue: 'email', state: 'completed' }), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);

    // The job's own metric is recorded once BullMQ has marked it completed: wait for that.
    const processed = { queue: 'creatives', name: 'process', outcome: 'completed' };
    await expect.poll(async () => value(await scrape(stack.operators.scheduler!), 'cheershare_job_duration_seconds_count', processed), { timeout: 15_000 }).toBe(1);
    const scheduler = await scrape(stack.operators.scheduler!);
    const rejected = scheduler.samples.filter((x) => x.name === 'cheershare_images_total' && x.labels.outcome === 'rejected');
    expect(rejected.map((x) => x.labels.reason).sort()).toEqual(['corrupt', 'format', 'invalid', 'other', 'too_large', 'truncated']);
    expect(rejected.filter((x) => x.value > 0)).toEqual([expect.objectContaining({ value: 1, labels: expect.objectContaining({ reason: expect.stringMatching(/^(invalid|truncated|corrupt|format)$/) }) })]);

    const rejectedMail = { queue: 'email', name: 'creative-rejected', outcome: 'completed' };
    await expect.poll(async () => value(await scrape(stack.operators.mailer), 'cheershare_job_duration_seconds_count', rejectedMail), { timeout: 15_000 }).toBe(1);
    const mailer = await scrape(stack.operators.mailer);
    expect(value(mailer, 'cheershare_emails_total', { kind: 'creative-rejected', outcome: 'sent' })).toBe(1);
    expect(value(mailer, 'cheershare_emails_total', { kind: 'otp', outcome: 'sent' })).toBe(1);
    expect(value(mailer, 'cheershare_job_duration_seconds_count', { queue: 'email', name: 'otp', outcome: 'completed' })).toBe(1);
  });

  it('counts a retried email', async () => {
    const email = uniqueEmail();
    stack.sink.planFor(email, { reject: 451, message: 'try later' });
    await stack.requestCode(email);
    await expect.poll(async () => value(await scrape(stack.operators.mailer), 'cheershare_emails_total', { kind: 'otp', outcome: 'sent' }), { timeout: 10_000 }).toBe(2);
    const mailer = await scrape(stack.operators.mailer);
    expect(value(mailer, 'cheershare_emails_total', { kind: 'otp', outcome: 'retried' })).toBe(1);
    expect(value(mailer, 'cheershare_job_duration_seconds_count', { queue: 'email', name: 'otp', outcome: 'retried' })).toBe(1);
  });

  it('a worker is not ready while its queue connection is dead, and ready again once it is back', async () => {
    const base = await testEnv({ SMTP_URL: stack.sink.url, LOG_LEVEL: 'info' });
    const redis = base.QUEUE_BACKEND === 'redis';
    const store = new URL(redis ? base.REDIS_URL! : base.DATABASE_URL!);
    const proxy = await startTcpProxy({ host: store.hostname, port: Number(store.port) });
    const mailer = startService(MAILER_ENTRY, { ...base, ...(redis ? { REDIS_URL: proxy.via(store.href) } : { QUEUE_DATABASE_URL: proxy.via(store.href) }) });
    try {
      const port = Number((await mailer.waitForLog((l) => l.msg === 'mailer-worker running')).operatorPort);
      const readiness = async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        return { status: res.status, checks: ((await res.json()) as { checks: Record<string, boolean> }).checks };
      };
      expect((await readiness()).status).toBe(200);
      proxy.cut();
      await expect.poll(readiness, { timeout: 10_000 }).toMatchObject({ status: 503, checks: { queue: false, database: true } });
      proxy.restore();
      await expect.poll(readiness, { timeout: 15_000 }).toMatchObject({ status: 200, checks: { consuming: true } });
      // And it really consumes again: a job queued now is processed (an unknown challenge is skipped).
      const queues = createQueueClient(loadMailerConfig(base).queue);
      try {
        const email = queues.producer('email', emailJobOptions({ attempts: 1, backoffMs: 100 }));
        const id = crypto.randomUUID();
        await email.add('otp', { challengeId: id, sealedCode: 'v1.x' }, { jobId: `otp-${id}` });
        await expect.poll(async () => (await email.getJob(`otp-${id}`))?.getState(), { timeout: 20_000 }).toBe('completed');
      } finally {
        await queues.close();
      }
      expect(await mailer.stop('SIGTERM')).toBe(0);
    } finally {
      await mailer.stop('SIGKILL');
      await proxy.close();
    }
  });
});
