// Figures and failure messages of the multi-host test: what was lost, what a slow wait was
// waiting for, and the state of every shared service when a condition never came.
import { jobIds } from '@cheershare/shared';
import { waitUntil } from '@cheershare/shared/testing';
import { deliveryRows } from '../faults/ledger.ts';
import { tally } from '../faults/load.ts';
import type { HostOutcome, Load } from './client.ts';
import { HOSTS, type MultiHost } from './harness.ts';

/** Every key in the bucket. */
export async function objectKeys(mh: MultiHost): Promise<string[]> {
  return mh.bucket.keys();
}

/** Accepted requests with no mail in the sink: where they went, when (ms after `t0`), their delivery row. */
export async function unsent(mh: MultiHost, outcomes: HostOutcome[], t0: number) {
  const missing = outcomes.filter((o) => o.status === 202 && !mh.sink.mails.some((m) => m.to.includes(o.email)));
  const rows = await deliveryRows(mh.db, missing.map((o) => jobIds.otpEmail(o.challengeId ?? '')));
  return missing.map((o) => ({ host: o.host, sentMs: o.sentAt - t0, answeredMs: o.sentAt + o.ms - t0, row: rows.get(jobIds.otpEmail(o.challengeId ?? ''))?.status ?? 'none' }));
}

/** Delivery rows of the accepted requests by status: what a slow settle was waiting for. */
export async function rowStates(mh: MultiHost, outcomes: HostOutcome[]): Promise<Record<string, number>> {
  const rows = await deliveryRows(mh.db, outcomes.filter((o) => o.status === 202).map((o) => jobIds.otpEmail(o.challengeId ?? '')));
  return tally([...rows.values()]);
}

/**
 * Waits for `cond`; on a timeout, says what the clients saw since `since`, each host's readiness,
 * Redis's roles, whether the bucket answers, and the last warnings of every process.
 */
export async function until(mh: MultiHost, what: string, load: Load, since: number, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  try {
    await waitUntil(cond, what, timeoutMs);
  } catch (err) {
    const seen = Object.fromEntries(HOSTS.map((h) => [h, tally(load.outcomes.filter((o) => o.host === h && o.sentAt >= since))]));
    const s3 = await Promise.race([objectKeys(mh).then((k) => `${String(k.length)} objects`, (e: Error) => e.message), new Promise((r) => setTimeout(() => r('no answer in 5 s'), 5_000))]);
    const agent = `${String(mh.agent.child.exitCode ?? mh.agent.child.signalCode ?? 'running')}: ${mh.agent.output.slice(-5).join(' | ')}`;
    const warnings = mh.started.map(({ host, name, proc }) => `${host}/${name}: ${proc.output.filter((l) => /"level":(40|50|60)/.test(l)).slice(-3).join(' | ')}`);
    throw new Error(`${(err as Error).message}; answers since: ${JSON.stringify(seen)}; /readyz: ${JSON.stringify(load.readiness())}; redis: ${await mh.redis.describe()}; s3 list: ${String(s3)}; services agent: ${agent}; warnings:\n${warnings.join('\n')}`);
  }
}
