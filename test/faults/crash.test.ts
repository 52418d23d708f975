// kill -9: the mailer in the middle of deliveries, the scheduler in the middle of an image (twice).
import { describe, it } from 'vitest';
import { makeImage, uniqueEmail, waitUntil, type ServiceProcess } from '@cheershare/shared/testing';
import { lastFirstCopyAt, settle } from './ledger.ts';
import { burst, tally } from './load.ts';
import { creativeRow, report, signIn, startFaultStack, uploadCreative, type FaultStack } from './harness.ts';

/** SIGKILL the moment `proc` logs that it started on the creative; resolves when it is dead. */
async function killWhenProcessing(proc: ServiceProcess, creativeId: string): Promise<number> {
  await proc.waitForLog((l) => l.msg === 'processing creative' && l.creativeId === creativeId, 60_000);
  proc.child.kill('SIGKILL');
  await proc.exited;
  return Date.now();
}

describe.concurrent('kill -9', () => {
  it('mailer mid-delivery: a restarted mailer delivers every accepted code; extra copies are recorded', { timeout: 120_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      // Production lock and stall settings: the figure says how long a real crash takes to heal.
      stack = await startFaultStack({ services: ['api', 'mailer'] });
      const s = stack;
      // The server sits on each message for a while: deliveries are on the wire when the kill comes.
      s.sink.setDelay(1_500);
      const outcomes = await burst(s.base, Array.from({ length: 30 }, () => uniqueEmail('kill-mailer')), 5);
      await waitUntil(() => s.sink.delayedAnswers >= 3, 'deliveries on the wire', 20_000);
      const onTheWire = s.sink.delayedAnswers;
      const mailer = s.procs.mailer!;
      mailer.child.kill('SIGKILL');
      await mailer.exited;
      const killedAt = Date.now();
      s.sink.setDelay(0);
      await s.start('mailer');
      const ledger = await settle(s, outcomes, { timeoutMs: 90_000 });
      const recoverMs = lastFirstCopyAt(s.sink, outcomes) - killedAt;
      const exitCodes = await s.stop();
      report('kill -9 mailer mid-delivery', { requests: tally(outcomes), onTheWire, ...ledger, recoverMs, exitCodes });
      expect.soft(ledger).toMatchObject({ accepted: 30, delivered: 30, lost: 0, duplicatesUnrecorded: 0 });
      expect.soft(recoverMs).toBeLessThan(45_000);
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [null, 0] });
    } finally {
      await stack?.stop();
    }
  });

  it('scheduler mid-image, twice on the same image: the creative is rejected with a reason and its owner told', { timeout: 150_000 }, async ({ expect }) => {
    let stack: FaultStack | undefined;
    try {
      // Short locks so the two stalls take seconds, not a minute each.
      stack = await startFaultStack({ env: { QUEUE_LOCK_MS: '4000', QUEUE_STALLED_INTERVAL_MS: '1000' } });
      const s = stack;
      const owner = await signIn(s);
      // About a second of decoding and re-encoding: wide enough a window to die in.
      const image = await makeImage('jpeg', { width: 6000, height: 6000, noise: true });
      const upload = await uploadCreative(s.base, owner.token, image);
      expect(upload.status).toBe(202);
      const id = upload.id ?? '';

      const firstKillAt = await killWhenProcessing(s.procs.scheduler!, id);
      const midImage = [(await creativeRow(s.db, id))?.status];
      const second = await s.start('scheduler');
      const secondKillAt = await killWhenProcessing(second, id);
      midImage.push((await creativeRow(s.db, id))?.status);
      await s.start('scheduler');
      await waitUntil(async () => (await creativeRow(s.db, id))?.status !== 'processing', 'the creative settled', 90_000).catch(() => {});
      const creative = await creativeRow(s.db, id);
      const mail = await s.sink.waitForMail((m) => m.to.includes(owner.email) && /not accepted/i.test(m.headers.get('subject') ?? ''), 30_000).catch(() => undefined);
      const exitCodes = await s.stop();
      report('kill -9 scheduler mid-image twice', {
        statusAfterEachKill: midImage, finalStatus: creative?.status, reason: creative?.rejection_reason,
        rejectedMsAfterSecondKill: creative?.processed_at ? creative.processed_at.getTime() - secondKillAt : null,
        emailMsAfterSecondKill: mail ? mail.receivedAt.getTime() - secondKillAt : null, secondKillMsAfterFirst: secondKillAt - firstKillAt, exitCodes,
      });
      // Both kills landed while the image was in the works.
      expect.soft(midImage).toEqual(['processing', 'processing']);
      expect.soft(creative?.status).toBe('rejected');
      expect.soft(creative?.rejection_reason).toBeTruthy();
      expect.soft(mail?.raw).toContain('Reason');
      expect.soft(exitCodes).toEqual({ api: [0], mailer: [0], scheduler: [null, null, 0] });
    } finally {
      await stack?.stop();
    }
  });
});
