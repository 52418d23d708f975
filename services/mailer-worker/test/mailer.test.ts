import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createLogger, createProducer, createProducerConnection, emailJobOptions, hashOtpCode, jobIds, loadMailerConfig, seal,
  type EmailDelivery, type MailerConfig, type Producer,
} from '@cheershare/shared';
import { startSmtpSink, testEnv, uniqueEmail, type SmtpSink } from '@cheershare/shared/testing';
import type { Redis } from 'ioredis';
import { createMailerApp, type MailerApp } from '../src/app.ts';
import { makeEmailProcessor } from '../src/processors/index.ts';

describe('mailer-worker', () => {
  let sink: SmtpSink;
  let config: MailerConfig;
  let mailer: MailerApp;
  let producer: Producer<'email'>;
  let redis: Redis;

  beforeAll(async () => {
    sink = await startSmtpSink();
    config = loadMailerConfig(testEnv({ SMTP_URL: sink.url, EMAIL_BACKOFF_MS: '50', EMAIL_ATTEMPTS: '8' }));
    mailer = createMailerApp(config, { logger: createLogger({ level: 'silent', name: 'mailer-test' }) });
    redis = createProducerConnection(config.redis);
    producer = createProducer(config.redis, 'email', redis, emailJobOptions(config.email));
  });
  afterEach(() => sink.plan());
  afterAll(async () => {
    await mailer.stop();
    await producer.queue.obliterate({ force: true });
    await producer.close();
    redis.disconnect();
    await sink.close();
  });

  /** Issues a challenge as the API does: a hashed row, then a job carrying the sealed code. */
  async function issue(email: string, opts: { ttlMs?: number; createdAt?: Date; enqueue?: boolean } = {}) {
    const id = randomUUID();
    const code = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
    const createdAt = opts.createdAt ?? new Date();
    await mailer.deps.db.insertInto('otp_challenges').values({
      id, email, name: null, code_hash: hashOtpCode('irrelevant', id, code), created_at: createdAt,
      expires_at: new Date(createdAt.getTime() + (opts.ttlMs ?? 600_000)),
    }).execute();
    const jobId = jobIds.otpEmail(id);
    const enqueue = () => producer.add('otp', { challengeId: id, sealedCode: seal(config.jobEncryptionKey, code, id) }, { jobId });
    if (opts.enqueue !== false) await enqueue();
    return { id, code, jobId, enqueue };
  }

  async function delivery(jobId: string, until: (d: EmailDelivery) => boolean, timeoutMs = 10_000): Promise<EmailDelivery> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await mailer.deps.db.selectFrom('email_deliveries').selectAll().where('job_id', '=', jobId).executeTakeFirst();
      if (row && until(row)) return row;
      if (Date.now() > deadline) throw new Error(`delivery ${jobId}: ${JSON.stringify(row)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function finishedJob(jobId: string): Promise<Job> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const job = await producer.queue.getJob(jobId);
      const state = await job?.getState();
      // Read the job again: the copy fetched before the state check may predate the outcome.
      if (job && (state === 'completed' || state === 'failed')) return (await producer.queue.getJob(jobId)) as Job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish (state ${state})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('delivers the code in a plain-text and an HTML part and records the delivery', async () => {
    const email = uniqueEmail();
    const { code, jobId } = await issue(email);
    const mail = await sink.waitForMail((m) => m.to.includes(email));
    expect(mail.code).toBe(code);
    expect(mail.headers.get('subject')).toBe('Your cheershare sign-in code');
    expect(mail.headers.get('content-type')).toContain('multipart/alternative');
    expect(mail.raw).toContain('text/plain');
    expect(mail.raw).toContain('text/html');
    expect(mail.raw).toMatch(/expires in 10\s*=?\s*\n?\s*minutes/);
    const row = await delivery(jobId, (d) => d.status === 'sent');
    expect(row).toMatchObject({ kind: 'otp', recipient: email, attempts: 1, last_error: null });
    expect(row.message_id).toMatch(/@/);
  });

  it('retries an SMTP 4xx and delivers on a later attempt', async () => {
    const email = uniqueEmail();
    sink.planFor(email, { reject: 451, message: 'try again later' });
    const { code, jobId } = await issue(email);
    const mail = await sink.waitForMail((m) => m.to.includes(email));
    expect(mail.code).toBe(code);
    const row = await delivery(jobId, (d) => d.status === 'sent');
    expect(row.attempts).toBe(2);
    expect(row.last_error).toContain('451');
  });

  it('fails an SMTP 5xx at once without retrying', async () => {
    const email = uniqueEmail();
    sink.planFor(email, { reject: 550, message: 'mailbox unavailable' });
    const { jobId } = await issue(email);
    const job = await finishedJob(jobId);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    const row = await delivery(jobId, (d) => d.status === 'failed');
    expect(row.attempts).toBe(1);
    expect(row.last_error).toContain('550');
    expect(sink.attemptsFor(email)).toBe(1);
    expect(sink.mails.some((m) => m.to.includes(email))).toBe(false);
  });

  it('does not send a code that expired before its job ran', async () => {
    const email = uniqueEmail();
    const { jobId } = await issue(email, { createdAt: new Date(Date.now() - 700_000) });
    const row = await delivery(jobId, (d) => d.status === 'skipped');
    expect(row.last_error).toMatch(/expired/);
    expect(sink.mails.some((m) => m.to.includes(email))).toBe(false);
  });

  it('does not send a code a newer one has replaced', async () => {
    const email = uniqueEmail();
    const old = await issue(email, { createdAt: new Date(Date.now() - 5_000), enqueue: false });
    const fresh = await issue(email, { enqueue: false });
    await old.enqueue();
    await fresh.enqueue();
    expect((await delivery(old.jobId, (d) => d.status === 'skipped')).last_error).toMatch(/newer/);
    const mail = await sink.waitForMail((m) => m.to.includes(email));
    expect(mail.code).toBe(fresh.code);
    await delivery(fresh.jobId, (d) => d.status === 'sent');
  });

  it('sends nothing when a delivered job runs again', async () => {
    const email = uniqueEmail();
    const { jobId } = await issue(email);
    await delivery(jobId, (d) => d.status === 'sent');
    const job = await finishedJob(jobId);
    const mailsBefore = sink.mails.length;
    const result = await makeEmailProcessor(mailer.deps)(job);
    expect(result).toEqual({ status: 'sent' });
    expect(sink.mails.length).toBe(mailsBefore);
    expect((await delivery(jobId, () => true)).attempts).toBe(1);
  });

  it('fails a malformed payload or an unknown job name at once', async () => {
    await producer.queue.add('otp', { challengeId: 'not-a-uuid' }, { jobId: 'bad-payload' });
    await producer.queue.add('mystery', {}, { jobId: 'bad-name' });
    for (const id of ['bad-payload', 'bad-name']) {
      const job = await finishedJob(id);
      expect(await job.getState()).toBe('failed');
      expect(job.attemptsMade).toBe(1);
    }
  });

  it('fails a code sealed with another key without sending it', async () => {
    const email = uniqueEmail();
    const { id } = await issue(email, { enqueue: false });
    const jobId = jobIds.otpEmail(id);
    await producer.add('otp', { challengeId: id, sealedCode: seal('some-other-key-that-is-32-chars-long!!', '123456', id) }, { jobId });
    const job = await finishedJob(jobId);
    expect(await job.getState()).toBe('failed');
    expect((await delivery(jobId, (d) => d.status === 'failed')).last_error).toMatch(/sealed/);
  });
});
