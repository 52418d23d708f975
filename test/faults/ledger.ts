// The suite's invariant, as figures: every sign-in code request that got a 2xx reached the inbox
// at least once (or is recorded failed for a reason the scenario caused), and a recipient with
// more than one copy has its extra copies recorded as uncertain sends.
import { jobIds } from '@cheershare/shared';
import { waitUntil, type SmtpSink } from '@cheershare/shared/testing';
import type pg from 'pg';
import { isAccepted, type Outcome } from './load.ts';

export interface DeliveryRow {
  job_id: string;
  status: string;
  attempts: number;
  uncertain_sends: number;
  last_error: string | null;
}

const FINAL = new Set(['sent', 'failed', 'skipped', 'uncertain']);

/** Delivery rows by job id; `uncertain_sends` read as 0 where the column does not exist yet. */
export async function deliveryRows(db: pg.Pool, ids: string[]): Promise<Map<string, DeliveryRow>> {
  const { rows } = await db.query<DeliveryRow>(
    `select job_id, status, attempts, last_error, coalesce((to_jsonb(d) ->> 'uncertain_sends')::int, 0) as uncertain_sends
       from email_deliveries d where job_id = any($1)`, [ids]);
  return new Map(rows.map((r) => [r.job_id, r]));
}

export const copiesTo = (sink: SmtpSink, email: string) => sink.mails.filter((m) => m.to.some((t) => t.toLowerCase() === email.toLowerCase())).length;
const otpJob = (o: Outcome) => jobIds.otpEmail(o.challengeId ?? '');

export interface Ledger {
  accepted: number;
  delivered: number;
  /** Accepted, not in the inbox, recorded failed for a reason the scenario allowed. */
  failedRecorded: number;
  lost: number;
  /** Extra copies in the inbox, and how many of them the delivery rows record as uncertain sends. */
  duplicates: number;
  duplicatesRecorded: number;
  duplicatesUnrecorded: number;
  /** Uncertain sends the delivery rows record, whether or not a second copy came of them. */
  uncertainSends: number;
  /** The longest time from a 2xx answer to the first copy in the inbox. */
  slowestDeliveryMs: number;
  /** Recorded failed, yet in the inbox. */
  failedButSent: number;
  /** Answered with an error (not a dropped connection), yet a code arrived. */
  refusedButSent: number;
  /** How long settling took: from the end of the load until every delivery was final. */
  settleMs: number;
}

/** When the last of these accepted requests had its first copy in the inbox (ms since the epoch; 0 if none did). */
export function lastFirstCopyAt(sink: SmtpSink, outcomes: Outcome[]): number {
  let last = 0;
  for (const o of outcomes.filter(isAccepted)) {
    const first = sink.mails.find((m) => m.to.some((t) => t.toLowerCase() === o.email.toLowerCase()));
    if (first) last = Math.max(last, first.receivedAt.getTime());
  }
  return last;
}

/**
 * Waits (up to `timeoutMs`) until every accepted request is in the inbox or allowed failed, its
 * delivery row is final and the sink holds no delayed answer, then counts. Never throws on a
 * timeout: the figures say what is missing.
 */
export async function settle(
  ctx: { db: pg.Pool; sink: SmtpSink }, outcomes: Outcome[],
  opts: { timeoutMs?: number; allowFailed?: (row: DeliveryRow) => boolean } = {},
): Promise<Ledger> {
  const accepted = outcomes.filter(isAccepted);
  const allowFailed = opts.allowFailed ?? (() => false);
  const ids = accepted.map(otpJob);
  const done = async () => {
    if (ctx.sink.delayedAnswers > 0) return false;
    const rows = await deliveryRows(ctx.db, ids);
    return accepted.every((o) => {
      const row = rows.get(otpJob(o));
      if (!row || !FINAL.has(row.status)) return false;
      return copiesTo(ctx.sink, o.email) > 0 || (row.status === 'failed' && allowFailed(row));
    });
  };
  const started = Date.now();
  await waitUntil(done, 'every accepted request delivered', opts.timeoutMs ?? 60_000).catch(() => {});
  return { ...(await count(ctx, outcomes, allowFailed)), settleMs: Date.now() - started };
}

async function count(ctx: { db: pg.Pool; sink: SmtpSink }, outcomes: Outcome[], allowFailed: (row: DeliveryRow) => boolean): Promise<Omit<Ledger, 'settleMs'>> {
  const accepted = outcomes.filter(isAccepted);
  const rows = await deliveryRows(ctx.db, accepted.map(otpJob));
  const ledger: Omit<Ledger, 'settleMs'> = {
    accepted: accepted.length, delivered: 0, failedRecorded: 0, lost: 0, duplicates: 0, duplicatesRecorded: 0, duplicatesUnrecorded: 0,
    uncertainSends: 0, slowestDeliveryMs: 0, failedButSent: 0, refusedButSent: 0,
  };
  for (const o of accepted) {
    const row = rows.get(otpJob(o));
    const copies = ctx.sink.mails.filter((m) => m.to.some((t) => t.toLowerCase() === o.email.toLowerCase()));
    ledger.uncertainSends += row?.uncertain_sends ?? 0;
    if (copies.length > 0) {
      ledger.delivered += 1;
      ledger.slowestDeliveryMs = Math.max(ledger.slowestDeliveryMs, copies[0]!.receivedAt.getTime() - (o.sentAt + o.ms));
      const extra = copies.length - 1;
      const recorded = Math.min(extra, row?.uncertain_sends ?? 0);
      ledger.duplicates += extra;
      ledger.duplicatesRecorded += recorded;
      ledger.duplicatesUnrecorded += extra - recorded;
      if (row?.status === 'failed') ledger.failedButSent += 1;
    } else if (row?.status === 'failed' && allowFailed(row)) {
      ledger.failedRecorded += 1;
    } else {
      ledger.lost += 1;
    }
  }
  ledger.refusedButSent = outcomes.filter((o) => typeof o.status === 'number' && !isAccepted(o) && copiesTo(ctx.sink, o.email) > 0).length;
  return ledger;
}
