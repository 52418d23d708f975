import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Job } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, jobIds } from '@cheershare/shared';
import { startTcpProxy, testEnv, uniqueEmail, type TcpProxy } from '@cheershare/shared/testing';
import { makeEmailProcessor } from '../src/processors/index.ts';
import { startMailer, type MailerHarness } from './harness.ts';

// Issue 10: at most once to the inbox, and every uncertain send recorded.
// SMTP answers slower than SMTP_TIMEOUT_MS here stand for "the server took the message, the
// mailer never heard": the sink keeps the message when it finally answers.
const SMTP_TIMEOUT_MS = 700;

/** A pino logger whose lines the test can read. */
function capturedLogger() {
  const lines: { msg?: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { msg?: string });
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', name: 'claims-test', destination }) };
}

/** A code issued as the API does, its job not queued yet. */
const issueOtp = (h: MailerHarness, email: string) => h.issueCode(email, { enqueue: false });

/** A user with one ready creative on `day`, so their digest has something to say. */
async function digestFor(h: MailerHarness, email: string, day = '2031-05-17') {
  const user = await h.mailer.deps.db.insertInto('users').values({ email, name: null }).returning('id').executeTakeFirstOrThrow();
  await h.mailer.deps.db.insertInto('creatives').values({
    id: randomUUID(), owner_id: user.id, status: 'ready', scheduled_on: day, filename: 'sunrise.png',
    upload_key: null, upload_size: 1234, image_key: null, thumbnail_key: null, mime: null, byte_size: null,
    width: null, height: null, sha256: null, rejection_reason: null, processed_at: null, deleted_at: null,
  }).execute();
  const jobId = jobIds.creativeLive(user.id, day);
  return { jobId, enqueue: () => h.producer.add('creative-live', { userId: user.id, day }, { jobId }) };
}

/** A delivery row as a run that is (or was) mid-send leaves it. */
async function claimedElsewhere(h: MailerHarness, args: { jobId: string; kind: string; recipient: string; leaseMs: number }) {
  await sql`insert into email_deliveries (job_id, kind, recipient, status, attempts, lease_until)
            values (${args.jobId}, ${args.kind}, ${args.recipient}, 'sending', 1, now() + make_interval(secs => ${args.leaseMs / 1000}))`.execute(h.mailer.deps.db);
}

async function uncertainCount(h: MailerHarness, kind: string): Promise<number> {
  const metric = await h.mailer.deps.metrics.emails.get();
  return metric.values.find((v) => v.labels.kind === kind && v.labels.outcome === 'uncertain')?.value ?? 0;
}

describe('delivery claims and uncertain sends', () => {
  let h: MailerHarness;
  const log = capturedLogger();
  beforeAll(async () => {
    h = await startMailer('delivery-claims-test', { logger: log.logger, env: () => ({ SMTP_TIMEOUT_MS: String(SMTP_TIMEOUT_MS), DELIVERY_LEASE_MS: '2000' }) });
  });
  afterAll(() => h.close());

  it('a run that finds a live claim does not send, and ends with the outcome the claim holder records', async () => {
    const email = uniqueEmail();
    const otp = await issueOtp(h, email);
    await claimedElsewhere(h, { jobId: otp.jobId, kind: 'otp', recipient: email, leaseMs: 60_000 });
    await otp.enqueue();
    // The run has read the claim and is waiting on it.
    await expect.poll(() => log.lines.some((l) => l.msg === 'another run is sending this email; waiting for its outcome' && (l as { jobId?: string }).jobId === otp.jobId), { timeout: 10_000 }).toBe(true);
    // The holder of the claim finishes its send.
    await h.mailer.deps.db.updateTable('email_deliveries').set({ status: 'sent', lease_until: null }).where('job_id', '=', otp.jobId).execute();
    const job = await h.finishedJob(otp.jobId);
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toEqual({ status: 'sent' });
    expect(h.sink.attemptsFor(email)).toBe(0);
    expect((await h.delivery(otp.jobId, () => true)).attempts).toBe(1);
  });

  it('a claim left by a run that died mid-send: the code is sent again, and the possible copy recorded and counted', async () => {
    const email = uniqueEmail();
    const otp = await issueOtp(h, email);
    const before = await uncertainCount(h, 'otp');
    await claimedElsewhere(h, { jobId: otp.jobId, kind: 'otp', recipient: email, leaseMs: -1_000 });
    await otp.enqueue();
    const mail = await h.sink.waitForMail((m) => m.to.includes(email));
    expect(mail.code).toBe(otp.code);
    const row = await h.delivery(otp.jobId, (d) => d.status === 'sent');
    expect(row).toMatchObject({ attempts: 2, uncertain_sends: 1, lease_until: null });
    expect(await uncertainCount(h, 'otp')).toBe(before + 1);
  });

  it('a claim left by a run that died mid-send: a digest is recorded uncertain and not sent again', async () => {
    const email = uniqueEmail();
    const digest = await digestFor(h, email);
    const before = await uncertainCount(h, 'creative-live');
    await claimedElsewhere(h, { jobId: digest.jobId, kind: 'creative-live', recipient: email, leaseMs: -1_000 });
    await digest.enqueue();
    const job = await h.finishedJob(digest.jobId);
    expect(job.returnvalue).toEqual({ status: 'uncertain' });
    expect(await h.delivery(digest.jobId, () => true)).toMatchObject({ status: 'uncertain', uncertain_sends: 1 });
    expect(h.sink.attemptsFor(email)).toBe(0);
    expect(await uncertainCount(h, 'creative-live')).toBe(before + 1);
  });

  it('a job an operator retries after it failed is claimed and sent again', async () => {
    const email = uniqueEmail();
    const otp = await issueOtp(h, email);
    await sql`insert into email_deliveries (job_id, kind, recipient, status, attempts, last_error)
              values (${otp.jobId}, 'otp', ${email}, 'failed', 10, '451 try again later')`.execute(h.mailer.deps.db);
    await otp.enqueue();
    const mail = await h.sink.waitForMail((m) => m.to.includes(email));
    expect(mail.code).toBe(otp.code);
    expect(await h.delivery(otp.jobId, (d) => d.status === 'sent')).toMatchObject({ attempts: 11, uncertain_sends: 0 });
  });

  it('an answer after the SMTP timeout: the code is recorded uncertain and sent again, so both copies are on record', async () => {
    const email = uniqueEmail();
    h.sink.planFor(email, { delayMs: SMTP_TIMEOUT_MS * 3 });
    const otp = await issueOtp(h, email);
    await otp.enqueue();
    const row = await h.delivery(otp.jobId, (d) => d.status === 'sent');
    expect(row).toMatchObject({ attempts: 2, uncertain_sends: 1 });
    // The late answer still took the first message: two copies, one of them recorded as uncertain.
    await expect.poll(() => h.sink.mails.filter((m) => m.to.includes(email)).map((m) => m.code), { timeout: 10_000 }).toEqual([otp.code, otp.code]);
    expect(row.uncertain_sends).toBeGreaterThanOrEqual(h.sink.mails.filter((m) => m.to.includes(email)).length - 1);
  });

  it('an answer after the SMTP timeout: a digest is recorded uncertain and not retried', async () => {
    const email = uniqueEmail();
    h.sink.planFor(email, { delayMs: SMTP_TIMEOUT_MS * 3 });
    const digest = await digestFor(h, email);
    await digest.enqueue();
    const job = await h.finishedJob(digest.jobId);
    expect(job.returnvalue).toEqual({ status: 'uncertain' });
    expect(await h.delivery(digest.jobId, () => true)).toMatchObject({ status: 'uncertain', attempts: 1, uncertain_sends: 1 });
    await h.sink.waitForMail((m) => m.to.includes(email));
    expect(h.sink.attemptsFor(email)).toBe(1);
  });

  it('a run after one whose server accepted but whose database write failed records the delivery instead of sending', async () => {
    const email = uniqueEmail();
    const otp = await issueOtp(h, email);
    // The job as the failed run left it: marked sent in the queue store, claim still in the table.
    await claimedElsewhere(h, { jobId: otp.jobId, kind: 'otp', recipient: email, leaseMs: -1_000 });
    const job = {
      id: otp.jobId, name: 'otp', data: otp.data, attemptsMade: 1, opts: { attempts: 8 },
      progress: { sentMessageId: '<accepted@example.test>' }, updateProgress: () => Promise.resolve(),
    } as unknown as Job;
    expect(await makeEmailProcessor(h.mailer.deps)(job)).toEqual({ status: 'sent' });
    expect(await h.delivery(otp.jobId, () => true)).toMatchObject({ status: 'sent', message_id: '<accepted@example.test>', uncertain_sends: 0 });
    expect(h.sink.attemptsFor(email)).toBe(0);
  });
});

describe('the database lost right after the SMTP server accepted', () => {
  let h: MailerHarness;
  let proxy: TcpProxy;
  const log = capturedLogger();
  beforeAll(async () => {
    const direct = new URL((await testEnv()).DATABASE_URL ?? '');
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    h = await startMailer('delivery-db-loss-test', { logger: log.logger, env: () => ({ DATABASE_URL: proxy.via(direct.toString()) }) });
  });
  afterAll(async () => {
    await h.close();
    await proxy.close();
  });

  it('records the delivery once the database is back, and never sends it again', async () => {
    const email = uniqueEmail();
    h.sink.planFor(email, { delayMs: 600 });
    const otp = await issueOtp(h, email);
    await otp.enqueue();
    // DATA is in: the server holds its answer. Cut the database now.
    await expect.poll(() => h.sink.attemptsFor(email), { timeout: 10_000 }).toBe(1);
    proxy.cut();
    await expect.poll(() => log.lines.some((l) => l.msg === 'could not record a delivery outcome, retrying'), { timeout: 10_000 }).toBe(true);
    proxy.restore();
    const row = await h.delivery(otp.jobId, (d) => d.status === 'sent', 20_000);
    expect(row).toMatchObject({ attempts: 1, uncertain_sends: 0 });
    expect((await h.finishedJob(otp.jobId)).returnvalue).toEqual({ status: 'sent' });
    expect(h.sink.attemptsFor(email)).toBe(1);
    expect(h.sink.mails.filter((m) => m.to.includes(email))).toHaveLength(1);
  });
});
