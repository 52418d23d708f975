import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox, seal } from '@cheershare/shared';
import { uniqueEmail } from '@cheershare/shared/testing';
import { startMailer, type MailerHarness } from './harness.ts';

// JOB_ENCRYPTION_KEY rotation as an operator does it: the api seals with the new key while jobs
// sealed with the old one are still queued; mailers that list the old key in JOB_ENCRYPTION_OLD_KEYS
// deliver them, mailers that do not fail them without sending.
const oldKey = randomBytes(32).toString('base64url');
const newKey = randomBytes(32).toString('base64url');

/** A challenge row and its job, the code sealed by `sealCode` as the api of that moment did. */
const queueCode = (h: MailerHarness, email: string, sealCode: (code: string, challengeId: string) => string) => h.issueCode(email, { sealCode });

const byOldBox = (code: string, id: string) => createSecretBox(oldKey).seal(code, id);
// Jobs queued before key ids existed: v1, naming no key.
const byOldV1 = (code: string, id: string) => seal(oldKey, code, id);
const byNewBox = (code: string, id: string) => createSecretBox(newKey, [oldKey]).seal(code, id);

describe('JOB_ENCRYPTION_KEY rotation in the mailer-worker', () => {
  let rotated: MailerHarness;
  let newOnly: MailerHarness;
  beforeAll(async () => {
    [rotated, newOnly] = await Promise.all([
      startMailer('mailer-rotated', { env: () => ({ JOB_ENCRYPTION_KEY: newKey, JOB_ENCRYPTION_OLD_KEYS: oldKey }) }),
      startMailer('mailer-new-only', { env: () => ({ JOB_ENCRYPTION_KEY: newKey }) }),
    ]);
  });
  afterAll(() => Promise.all([rotated?.close(), newOnly?.close()]));

  it.each([
    ['sealed by the old key (with its kid)', byOldBox],
    ['sealed by the old key before key ids (v1)', byOldV1],
    ['sealed by the new key', byNewBox],
  ])('delivers a code %s when the old key is in JOB_ENCRYPTION_OLD_KEYS', async (_what, sealCode) => {
    const email = uniqueEmail();
    const { code, jobId } = await queueCode(rotated, email, sealCode);
    const mail = await rotated.sink.waitForMail((m) => m.to.includes(email));
    expect(mail.code).toBe(code);
    expect((await rotated.delivery(jobId, (d) => d.status === 'sent')).attempts).toBe(1);
  });

  it.each([
    ['sealed by the old key (with its kid)', byOldBox, /unknown key \(kid [\w-]{11}\)/],
    ['sealed by the old key before key ids (v1)', byOldV1, /none of the keys/],
  ])('fails a code %s at once, sending nothing, without the old key', async (_what, sealCode, reason) => {
    const email = uniqueEmail();
    const { jobId } = await queueCode(newOnly, email, sealCode);
    const job = await newOnly.finishedJob(jobId);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    const row = await newOnly.delivery(jobId, (d) => d.status === 'failed');
    expect(row.last_error).toMatch(/JOB_ENCRYPTION_OLD_KEYS/);
    expect(row.last_error).toMatch(reason);
    expect(newOnly.sink.mails.some((m) => m.to.includes(email))).toBe(false);
  });

  it('still delivers what the new key sealed without the old key', async () => {
    const email = uniqueEmail();
    const { code, jobId } = await queueCode(newOnly, email, byNewBox);
    expect((await newOnly.sink.waitForMail((m) => m.to.includes(email))).code).toBe(code);
    await newOnly.delivery(jobId, (d) => d.status === 'sent');
  });
});
