import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds, type CreativeStatus } from '@cheershare/shared';
import { uniqueEmail, type ReceivedMail, type SmtpSink } from '@cheershare/shared/testing';
import { makeEmailProcessor } from '../src/processors/index.ts';
import { startMailer, type MailerHarness } from './harness.ts';

const DAY = '2031-05-17';

/** The message with quoted-printable soft breaks and escapes undone, good enough to search. */
function decoded(mail: ReceivedMail): string {
  const bytes = mail.raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** One MIME part of a multipart message, decoded. */
function part(mail: ReceivedMail, type: 'text/plain' | 'text/html'): string {
  const body = decoded(mail);
  const start = body.indexOf(`Content-Type: ${type}`);
  expect(start, `${type} part`).toBeGreaterThan(-1);
  const from = body.indexOf('\r\n\r\n', start) + 4;
  return body.slice(from, body.indexOf('\r\n--', from));
}

describe('creative emails', () => {
  let h: MailerHarness;
  let sink: SmtpSink;
  let mailer: MailerHarness['mailer'];
  let producer: MailerHarness['producer'];
  beforeAll(async () => {
    h = await startMailer('creative-emails-test');
    ({ sink, mailer, producer } = h);
  });
  afterAll(() => h.close());

  async function addUser(email = uniqueEmail()): Promise<{ id: string; email: string }> {
    const row = await mailer.deps.db.insertInto('users').values({ email, name: null }).returning('id').executeTakeFirstOrThrow();
    return { id: row.id, email };
  }

  async function addCreative(ownerId: string, opts: {
    status: CreativeStatus; scheduledOn?: string; filename?: string | null; reason?: string; deleted?: boolean;
  }): Promise<string> {
    const id = randomUUID();
    await mailer.deps.db.insertInto('creatives').values({
      id, owner_id: ownerId, status: opts.status, scheduled_on: opts.scheduledOn ?? DAY, filename: opts.filename ?? null,
      upload_key: null, upload_size: 1234, image_key: null, thumbnail_key: null, mime: null, byte_size: null,
      width: null, height: null, sha256: null, rejection_reason: opts.reason ?? null, processed_at: null,
      deleted_at: opts.deleted ? new Date() : null,
    }).execute();
    return id;
  }

  async function enqueueDigest(userId: string, day = DAY): Promise<string> {
    const jobId = jobIds.creativeLive(userId, day);
    await producer.add('creative-live', { userId, day }, { jobId });
    return jobId;
  }

  async function enqueueRejection(creativeId: string): Promise<string> {
    const jobId = jobIds.creativeRejected(creativeId);
    await producer.add('creative-rejected', { creativeId }, { jobId });
    return jobId;
  }



  it('sends one digest with the number of creatives going live that day', async () => {
    const user = await addUser();
    await addCreative(user.id, { status: 'ready', filename: 'sunrise.png' });
    await addCreative(user.id, { status: 'ready', filename: 'team-photo.jpg' });
    await addCreative(user.id, { status: 'ready', filename: 'other-day.png', scheduledOn: '2031-05-18' });
    await addCreative(user.id, { status: 'processing', filename: 'still-processing.png' });
    const jobId = await enqueueDigest(user.id);

    const mail = await sink.waitForMail((m) => m.to.includes(user.email));
    expect(mail.headers.get('subject')).toBe('Your cheershare creative is live today');
    expect(mail.headers.get('content-type')).toContain('multipart/alternative');
    const text = part(mail, 'text/plain');
    expect(text).toContain(`2 of your creatives go live on ${DAY}.`);
    expect(text).toContain('sunrise.png');
    expect(text).toContain('team-photo.jpg');
    expect(text).not.toContain('other-day.png');
    expect(text).not.toContain('still-processing.png');
    expect(part(mail, 'text/html')).toContain('sunrise.png');
    const row = await h.delivery(jobId, (d) => d.status === 'sent');
    expect(row).toMatchObject({ kind: 'creative-live', recipient: user.email, attempts: 1, last_error: null });
    expect(sink.attemptsFor(user.email)).toBe(1);
  });

  it('sends no second digest when the job runs again or is queued again', async () => {
    const user = await addUser();
    await addCreative(user.id, { status: 'ready' });
    const jobId = await enqueueDigest(user.id);
    await h.delivery(jobId, (d) => d.status === 'sent');
    const job = await h.finishedJob(jobId);

    expect(await makeEmailProcessor(mailer.deps)(job)).toEqual({ status: 'sent' });
    // Once BullMQ has forgotten the completed job, the same id can be queued again.
    await job.remove();
    await enqueueDigest(user.id);
    expect(await (await h.finishedJob(jobId)).getState()).toBe('completed');

    expect(sink.attemptsFor(user.email)).toBe(1);
    expect((await h.delivery(jobId, () => true)).attempts).toBe(1);
  });

  it('skips the digest when no creative of the owner is ready that day any more', async () => {
    const user = await addUser();
    await addCreative(user.id, { status: 'ready', deleted: true });
    await addCreative(user.id, { status: 'processing' });
    await addCreative(user.id, { status: 'rejected', reason: 'not an image' });
    const jobId = await enqueueDigest(user.id);
    const row = await h.delivery(jobId, (d) => d.status === 'skipped');
    expect(row).toMatchObject({ kind: 'creative-live', recipient: user.email, attempts: 0 });
    expect(row.last_error).toMatch(/no ready creatives/);
    expect(await (await h.finishedJob(jobId)).getState()).toBe('completed');
    expect(sink.attemptsFor(user.email)).toBe(0);
  });

  it('skips the digest of a user who no longer exists', async () => {
    const jobId = await enqueueDigest(randomUUID());
    const row = await h.delivery(jobId, (d) => d.status === 'skipped');
    expect(row).toMatchObject({ recipient: '', last_error: 'user no longer exists' });
  });

  it('tells the owner why an upload was rejected and for which day', async () => {
    const user = await addUser();
    const creativeId = await addCreative(user.id, { status: 'rejected', filename: 'holiday.gif', reason: 'image is smaller than 200x200' });
    const jobId = await enqueueRejection(creativeId);

    const mail = await sink.waitForMail((m) => m.to.includes(user.email));
    expect(mail.headers.get('subject')).toBe('Your cheershare upload was not accepted');
    for (const body of [part(mail, 'text/plain'), part(mail, 'text/html')]) {
      expect(body).toContain('image is smaller than 200x200');
      expect(body).toContain(DAY);
      expect(body).toContain('holiday.gif');
    }
    const row = await h.delivery(jobId, (d) => d.status === 'sent');
    expect(row).toMatchObject({ kind: 'creative-rejected', recipient: user.email, attempts: 1 });
  });

  it('does not send a rejection for a creative that was deleted or is not rejected', async () => {
    const user = await addUser();
    const deleted = await addCreative(user.id, { status: 'rejected', reason: 'too large', deleted: true });
    const ready = await addCreative(user.id, { status: 'ready' });
    const deletedRow = await h.delivery(await enqueueRejection(deleted), (d) => d.status === 'skipped');
    expect(deletedRow).toMatchObject({ recipient: user.email, last_error: 'creative was deleted' });
    const readyRow = await h.delivery(await enqueueRejection(ready), (d) => d.status === 'skipped');
    expect(readyRow.last_error).toMatch(/not rejected/);
    const goneRow = await h.delivery(await enqueueRejection(randomUUID()), (d) => d.status === 'skipped');
    expect(goneRow.last_error).toBe('creative no longer exists');
    expect(sink.attemptsFor(user.email)).toBe(0);
  });

  it('keeps a hostile filename out of the headers and escapes it in HTML', async () => {
    const user = await addUser();
    const filename = 'x\r\nBcc: victim@example.test\r\nSubject: pwned\r\n<script>alert(1)</script>.png';
    await addCreative(user.id, { status: 'ready', filename });
    const rejected = await addCreative(user.id, { status: 'rejected', filename, reason: '<b>bad</b>\r\nX-Injected: 1' });
    await enqueueDigest(user.id);
    await enqueueRejection(rejected);

    await sink.waitForMail((m) => m.to.includes(user.email) && m.headers.get('subject')!.includes('live'));
    await sink.waitForMail((m) => m.to.includes(user.email) && m.headers.get('subject')!.includes('not accepted'));
    const mails = sink.mails.filter((m) => m.to.includes(user.email));
    expect(mails).toHaveLength(2);
    for (const mail of mails) {
      expect(mail.to).toEqual([user.email]);
      expect(mail.headers.has('bcc')).toBe(false);
      expect(mail.headers.has('x-injected')).toBe(false);
      expect(mail.headers.get('subject')).not.toMatch(/pwned/);
      for (const value of mail.headers.values()) expect(value).not.toMatch(/script|victim/i);
      const html = part(mail, 'text/html');
      expect(html).not.toContain('<script>');
      expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;.png');
      // The line breaks are gone from the text too, so nothing there looks like a header line.
      expect(part(mail, 'text/plain')).not.toMatch(/^(Bcc|Subject|X-Injected):/m);
    }
    expect(part(mails.find((m) => m.headers.get('subject')!.includes('not accepted'))!, 'text/html')).toContain('&#60;b&#62;bad&#60;/b&#62;');
  });

  it('fails a digest on an SMTP 5xx at once without retrying', async () => {
    const user = await addUser();
    await addCreative(user.id, { status: 'ready' });
    sink.planFor(user.email, { reject: 550, message: 'mailbox unavailable' });
    const jobId = await enqueueDigest(user.id);
    const job = await h.finishedJob(jobId);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    const row = await h.delivery(jobId, (d) => d.status === 'failed');
    expect(row.attempts).toBe(1);
    expect(row.last_error).toContain('550');
    expect(sink.attemptsFor(user.email)).toBe(1);
    expect(sink.mails.some((m) => m.to.includes(user.email))).toBe(false);
  });
});
