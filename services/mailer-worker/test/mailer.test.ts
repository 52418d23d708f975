import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds, seal } from '@cheershare/shared';
import { uniqueEmail, type SmtpSink } from '@cheershare/shared/testing';
import { makeEmailProcessor } from '../src/processors/index.ts';
import { startMailer, type IssueOptions, type MailerHarness } from './harness.ts';

describe('mailer-worker', () => {
  let h: MailerHarness;
  let sink: SmtpSink;
  let mailer: MailerHarness['mailer'];
  let producer: MailerHarness['producer'];
  beforeAll(async () => {
    h = await startMailer('mailer-test');
    ({ sink, mailer, producer } = h);
  });
  afterAll(() => h.close());

  const issue = (email: string, opts?: IssueOptions) => h.issueCode(email, opts);

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
    const row = await h.delivery(jobId, (d) => d.status === 'sent');
    expect(row).toMatchObject({ kind: 'otp', recipient: email, attempts: 1, last_error: null });
    expect(row.message_id).toMatch(/@/);
  });

  it('retries an SMTP 4xx and delivers on a later attempt', async () => {
    const email = uniqueEmail();
    sink.planFor(email, { reject: 451, message: 'try again later' });
    const { code, jobId } = await issue(email);
    const mail = await sink.waitForMail((m) => m.to.includes(email));
    expect(mail.code).toBe(code);
    const row = await h.delivery(jobId, (d) => d.status === 'sent');
    expect(row.attempts).toBe(2);
    expect(row.last_error).toContain('451');
  });

  it('fails an SMTP 5xx at once without retrying', async () => {
    const email = uniqueEmail();
    sink.planFor(email, { reject: 550, message: 'mailbox unavailable' });
    const { jobId } = await issue(email);
    const job = await h.finishedJob(jobId);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    const row = await h.delivery(jobId, (d) => d.status === 'failed');
    expect(row.attempts).toBe(1);
    expect(row.last_error).toContain('550');
    expect(sink.attemptsFor(email)).toBe(1);
    expect(sink.mails.some((m) => m.to.includes(email))).toBe(false);
  });

  it('does not send a code that expired before its job ran', async () => {
    const email = uniqueEmail();
    const { jobId } = await issue(email, { createdAt: new Date(Date.now() - 700_000) });
    const row = await h.delivery(jobId, (d) => d.status === 'skipped');
    expect(row.last_error).toMatch(/expired/);
    expect(sink.mails.some((m) => m.to.includes(email))).toBe(false);
  });

  it('sends a code held back by a mailbox limit to nobody, and every other code of the mailbox', async () => {
    const email = uniqueEmail();
    const held = await issue(email, { suppressed: true, enqueue: false });
    const other = await issue(email, { createdAt: new Date(Date.now() - 5_000), enqueue: false });
    await held.enqueue();
    await other.enqueue();
    expect((await h.delivery(held.jobId, (d) => d.status === 'skipped')).last_error).toMatch(/mailbox limit/);
    // Codes are bound to their requesters: an older one is still sent, as a newer one no longer retires it.
    const mail = await sink.waitForMail((m) => m.to.includes(email));
    expect(mail.code).toBe(other.code);
    await h.delivery(other.jobId, (d) => d.status === 'sent');
    expect(sink.mails.filter((m) => m.to.includes(email))).toHaveLength(1);
  });

  it('sends nothing when a delivered job runs again', async () => {
    const email = uniqueEmail();
    const { jobId } = await issue(email);
    await h.delivery(jobId, (d) => d.status === 'sent');
    const job = await h.finishedJob(jobId);
    const mailsBefore = sink.mails.length;
    const result = await makeEmailProcessor(mailer.deps)(job);
    expect(result).toEqual({ status: 'sent' });
    expect(sink.mails.length).toBe(mailsBefore);
    expect((await h.delivery(jobId, () => true)).attempts).toBe(1);
  });

  it('fails a malformed payload or an unknown job name at once', async () => {
    await producer.queue.add('otp', { challengeId: 'not-a-uuid' }, { jobId: 'bad-payload' });
    await producer.queue.add('mystery', {}, { jobId: 'bad-name' });
    for (const id of ['bad-payload', 'bad-name']) {
      const job = await h.finishedJob(id);
      expect(await job.getState()).toBe('failed');
      expect(job.attemptsMade).toBe(1);
    }
  });

  it('fails a code sealed with another key without sending it', async () => {
    const email = uniqueEmail();
    const { id } = await issue(email, { enqueue: false });
    const jobId = jobIds.otpEmail(id);
    await producer.add('otp', { challengeId: id, sealedCode: seal('some-other-key-that-is-32-chars-long!!', '123456', id) }, { jobId });
    const job = await h.finishedJob(jobId);
    expect(await job.getState()).toBe('failed');
    expect((await h.delivery(jobId, (d) => d.status === 'failed')).last_error).toMatch(/sealed/);
  });
});
