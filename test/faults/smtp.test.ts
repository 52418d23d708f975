// SMTP faults: the server goes away and comes back, refuses for a while (4xx), refuses for good
// (5xx), or takes the message but answers after the mailer's timeout.
import { describe, it } from 'vitest';
import { hostileFiles, uniqueEmail, waitUntil } from '@cheershare/shared/testing';
import { copiesTo, deliveryRows, lastFirstCopyAt, settle } from './ledger.ts';
import { burst, startLoad, tally } from './load.ts';
import { creativeRow, faultLasting, report, signIn, startFaultStack, uploadCreative, type FaultStack } from './harness.ts';

async function stopAll(stack: FaultStack | undefined) {
  return stack ? stack.stop() : {};
}

describe.concurrent('SMTP faults (real mailer, real SMTP server)', () => {
  it('server down for 5 s, then back: every accepted code arrives, none twice unrecorded', { timeout: 90_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      stack = await startFaultStack({ services: ['api', 'mailer'] });
      const s = stack;
      const load = startLoad(s.base, { clients: 3, paceMs: 50, label: 'smtp-down' });
      await waitUntil(() => s.sink.mails.length >= 5, 'mail flowing before the outage', 20_000);
      const downAt = Date.now();
      await s.sink.goAway();
      await faultLasting(5_000);
      const upAt = Date.now();
      await s.sink.comeBack();
      await waitUntil(() => load.since(upAt).length >= 10, 'requests after the server came back', 20_000);
      await load.stop();
      const ledger = await settle(s, load.outcomes, { timeoutMs: 60_000 });
      const rows = await deliveryRows(s.db, load.accepted().map((o) => `otp-${o.challengeId ?? ''}`));
      const retried = [...rows.values()].filter((r) => r.attempts > 1).length;
      const exitCodes = await s.stop();
      report('smtp down 5 s then back', {
        requests: tally(load.outcomes), acceptedDuringOutage: load.since(downAt).filter((o) => o.sentAt < upAt && o.status === 202).length,
        ...ledger, retried, recoverMs: lastFirstCopyAt(s.sink, load.outcomes.filter((o) => o.sentAt < upAt)) - upAt, exitCodes,
      });
      // The API does not depend on SMTP: every request was accepted.
      expect.soft(tally(load.outcomes)).toEqual({ 202: load.outcomes.length });
      expect.soft(retried).toBeGreaterThan(0);
      expect.soft(ledger).toMatchObject({ lost: 0, duplicatesUnrecorded: 0, failedButSent: 0 });
      expect.soft(ledger.delivered).toBe(ledger.accepted);
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0] });
    } finally {
      await stopAll(stack);
    }
  });

  it('4xx, then accept: each code is retried and arrives once', { timeout: 60_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      stack = await startFaultStack({ services: ['api', 'mailer'] });
      const emails = Array.from({ length: 10 }, () => uniqueEmail('smtp-4xx'));
      for (const email of emails) stack.sink.planFor(email, { reject: 451, message: 'try again later' });
      const outcomes = await burst(stack.base, emails);
      const ledger = await settle(stack, outcomes, { timeoutMs: 30_000 });
      const attempts = emails.map((e) => stack!.sink.attemptsFor(e));
      const exitCodes = await stack.stop();
      report('smtp 4xx then accept', { requests: tally(outcomes), ...ledger, smtpAttemptsPerCode: attempts, exitCodes });
      expect.soft(tally(outcomes)).toEqual({ 202: 10 });
      expect.soft(ledger).toMatchObject({ accepted: 10, delivered: 10, lost: 0, duplicates: 0 });
      expect.soft(attempts).toEqual(emails.map(() => 2));
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0] });
    } finally {
      await stopAll(stack);
    }
  });

  it('5xx: the code is recorded failed and neither delivered nor retried; the others arrive', { timeout: 60_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      stack = await startFaultStack({ services: ['api', 'mailer'] });
      const emails = Array.from({ length: 10 }, () => uniqueEmail('smtp-5xx'));
      const refused = emails.slice(0, 5);
      for (const email of refused) stack.sink.planFor(email, { reject: 550, message: 'mailbox unavailable' });
      const outcomes = await burst(stack.base, emails);
      const ledger = await settle(stack, outcomes, { timeoutMs: 30_000, allowFailed: (row) => /550/.test(row.last_error ?? '') });
      const attempts = refused.map((e) => stack!.sink.attemptsFor(e));
      const exitCodes = await stack.stop();
      report('smtp 5xx', { requests: tally(outcomes), ...ledger, smtpAttemptsPerRefusedCode: attempts, exitCodes });
      expect.soft(ledger).toMatchObject({ accepted: 10, delivered: 5, failedRecorded: 5, lost: 0, duplicates: 0, failedButSent: 0 });
      expect.soft(attempts).toEqual([1, 1, 1, 1, 1]);
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0] });
    } finally {
      await stopAll(stack);
    }
  });

  it('answer after the timeout: a code is sent again and the copy recorded; a digest is recorded uncertain, not resent', { timeout: 90_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      stack = await startFaultStack({ env: { SMTP_TIMEOUT_MS: '2000' } });
      const s = stack;
      const owner = await signIn(s);
      // The server takes each message, then answers a second after the mailer gave up.
      const emails = Array.from({ length: 5 }, () => uniqueEmail('smtp-late'));
      for (const email of [...emails, owner.email]) s.sink.planFor(email, { delayMs: 3_000 });
      const outcomes = await burst(s.base, emails);
      const upload = await uploadCreative(s.base, owner.token, hostileFiles.pngHeaderOnGarbage());
      expect(upload.status).toBe(202);
      const ledger = await settle(s, outcomes, { timeoutMs: 45_000 });
      const digestJob = `creative-rejected-${upload.id ?? ''}`;
      await waitUntil(async () => s.sink.delayedAnswers === 0 && ['sent', 'uncertain', 'failed'].includes((await deliveryRows(s.db, [digestJob])).get(digestJob)?.status ?? ''),
        'the rejection email settled', 30_000).catch(() => {});
      const digest = (await deliveryRows(s.db, [digestJob])).get(digestJob);
      const digestCopies = s.sink.mails.filter((m) => m.to.includes(owner.email) && /not accepted/i.test(m.headers.get('subject') ?? '')).length;
      const codeRows = [...(await deliveryRows(s.db, outcomes.map((o) => `otp-${o.challengeId ?? ''}`))).values()];
      const creative = await creativeRow(s.db, upload.id ?? '');
      const exitCodes = await s.stop();
      report('smtp answer after timeout', {
        requests: tally(outcomes), ...ledger, copiesPerCode: emails.map((e) => copiesTo(s.sink, e)),
        uncertainSendsPerCode: codeRows.map((r) => r.uncertain_sends), digest: { status: digest?.status, uncertainSends: digest?.uncertain_sends, copies: digestCopies }, exitCodes,
      });
      expect.soft(creative?.status).toBe('rejected');
      expect.soft(ledger).toMatchObject({ accepted: 5, delivered: 5, lost: 0, duplicatesUnrecorded: 0 });
      // Every code went out twice (the late copy and the resend), and each second copy is on record.
      expect.soft(ledger.duplicates).toBe(5);
      expect.soft(codeRows.map((r) => r.uncertain_sends)).toEqual([1, 1, 1, 1, 1]);
      expect.soft(digest).toMatchObject({ status: 'uncertain', uncertain_sends: 1 });
      expect.soft(digestCopies).toBe(1);
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0], scheduler: [0] });
    } finally {
      await stopAll(stack);
    }
  });
});
