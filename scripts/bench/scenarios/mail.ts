// The scenarios that go through the mailer-worker into the sink: the drain (which also yields the
// codes that verify and /v1/me use), end to end at a fixed arrival rate, and SIGTERM mid-delivery.
import { deliveryRate } from '../baselines.ts';
import { openLoop, type BenchContext } from '../context.ts';
import type { SinkRecord } from '../sink-client.ts';
import type { BackendStack } from '../stack.ts';
import { percentile, sleep, type Figures } from '../stats.ts';
import type { Code } from './http.ts';

const distinct = (records: SinkRecord[]) => new Set(records.map((r) => r.to)).size;

/**
 * Waits for `want` recipients matching `match` to arrive after sink index `from`, for as long as
 * the queue still holds email jobs (a backlog, or retries waiting out their backoff) and at most
 * `maxMs`: only mail that can no longer come counts as lost.
 */
async function awaitDelivery(ctx: BenchContext, stack: BackendStack, from: number, match: (to: string) => boolean, want: number, maxMs = 180_000): Promise<SinkRecord[]> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const records = await ctx.sink.collect(from, match, want, 5_000);
    if (distinct(records) >= want || Date.now() > deadline) return records;
    if ((await stack.pendingEmails()).pending === 0) return ctx.sink.collect(from, match, want, 1_000);
  }
}

/**
 * Queues `count` codes through the API with the mailer stopped, then starts the mailer and times
 * the drain into the sink: messages/s between the first and the last arrival, as for the
 * nodemailer baseline. Returns the codes as they arrived.
 */
export async function drain(ctx: BenchContext, stack: BackendStack, base: string, count: number, tag: string): Promise<{ figures: Figures; codes: Code[] }> {
  const prefix = `drain-${tag}`;
  const challenges = await requestCodes(base, Array.from({ length: count }, (_, i) => `${prefix}-${i}@example.test`), ctx.opts.connections);
  const from = (await ctx.sink.stats()).count;
  const mailer = await stack.startMailer();
  const records = await awaitDelivery(ctx, stack, from, (to) => to.startsWith(prefix), count);
  const exitCode = await mailer.stop();
  const codes = new Map<string, string>();
  for (const r of records) if (r.code && !codes.has(r.to)) codes.set(r.to, r.code);
  return {
    figures: {
      ...deliveryRate(records.map((r) => r.at)),
      count, received: distinct(records), lost: count - distinct(records), duplicated: records.length - distinct(records), mailerExitCode: exitCode ?? -1,
    },
    codes: [...codes].map(([email, code]) => ({ email, code, challengeId: challenges.get(email) })),
  };
}

/**
 * Code requests at a fixed arrival rate with the mailer running: for each, the time from its
 * *intended* send time to the sink accepting its message. Every accepted request must arrive.
 */
export async function endToEnd(ctx: BenchContext, stack: BackendStack, base: string, tag: string): Promise<Figures> {
  const prefix = `e2e-${tag}`;
  const mailer = await stack.startMailer();
  const from = (await ctx.sink.stats()).count;
  const requests = await openLoop(ctx, `end to end (${stack.backend})`, {
    url: `${base}/v1/auth/otp`, rate: ctx.opts.e2eRate, seconds: ctx.opts.e2eSeconds, warmupSeconds: ctx.opts.warmup, prefix,
  });
  const accepted = requests.filter((r) => r.status === 202);
  const refused = new Map<string, number>();
  for (const r of requests.filter((r) => r.status !== 202)) {
    const why = r.error ?? `HTTP ${r.status}`;
    refused.set(why, (refused.get(why) ?? 0) + 1);
  }
  if (refused.size) ctx.say(`  ${stack.backend}: end to end, not accepted: ${[...refused].map(([why, n]) => `${why} ×${n}`).join(', ')}`);
  const records = await awaitDelivery(ctx, stack, from, (to) => to.startsWith(prefix), accepted.length);
  const exitCode = await mailer.stop();
  const arrived = new Map<string, number>();
  for (const r of records) if (!arrived.has(r.to)) arrived.set(r.to, r.at);
  const latencies = accepted.filter((r) => !r.warmup && arrived.has(r.email)).map((r) => arrived.get(r.email)! - r.intendedAt).sort((a, b) => a - b);
  const httpLatencies = requests.filter((r) => !r.warmup).map((r) => r.latencyMs).sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
    requests: requests.filter((r) => !r.warmup).length,
    failed: requests.length - accepted.length,
    unanswered: requests.filter((r) => r.status === 0).length,
    lost: accepted.filter((r) => !arrived.has(r.email)).length,
    duplicated: records.length - distinct(records),
    httpP50: percentile(httpLatencies, 50),
    httpP99: percentile(httpLatencies, 99),
    mailerExitCode: exitCode ?? -1,
  };
}

/**
 * Asks for a code for each address from here, `lanes` at a time (not a measurement: the mailer is
 * stopped and only the queue fills). Every request must be accepted. Returns each address's
 * challenge id, where the API answers with one (verify then needs it).
 */
async function requestCodes(base: string, emails: string[], lanes: number): Promise<Map<string, string | undefined>> {
  const challenges = new Map<string, string | undefined>();
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async () => {
    for (let i = next++; i < emails.length; i = next++) {
      const email = emails[i]!;
      const res = await fetch(`${base}/v1/auth/otp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) });
      const text = await res.text();
      if (res.status !== 202) throw new Error(`code request: ${res.status} ${text}`);
      challenges.set(email, (JSON.parse(text) as { challenge_id?: string }).challenge_id);
    }
  }));
  return challenges;
}

/**
 * SIGTERM to a mailer with `--sigterm-jobs` email jobs queued, as many active as it takes at once,
 * and every SMTP connection held in a slow exchange: how long it takes to exit, its exit code, and
 * whether a new mailer then delivers all of them, none lost, none twice.
 */
export async function sigterm(ctx: BenchContext, stack: BackendStack, base: string, tag: string): Promise<Figures> {
  const prefix = `sigterm-${tag}`;
  const count = ctx.opts.sigtermJobs;
  const match = (to: string) => to.startsWith(prefix);
  await requestCodes(base, Array.from({ length: count }, (_, i) => `${prefix}-${i}@example.test`), 10);
  const from = (await ctx.sink.stats()).count;
  await ctx.sink.setDelay(ctx.opts.slowSmtpMs);
  let inFlight = 0;
  try {
    const mailer = await stack.startMailer();
    // Every pooled connection busy in the slow exchange; more jobs than that are active behind them.
    const busy = Math.min(ctx.mailer.smtpConnections, count);
    const deadline = Date.now() + 15_000;
    while ((inFlight = (await ctx.sink.stats()).inFlight) < busy && Date.now() < deadline) await sleep(5);
    const { active } = await stack.pendingEmails();
    const signalled = performance.now();
    const exitCode = await mailer.stop('SIGTERM', 60_000);
    const exitMs = performance.now() - signalled;
    const beforeExit = distinct((await ctx.sink.since(from)).filter((r) => match(r.to)));
    await ctx.sink.setDelay(0);

    const second = await stack.startMailer();
    await awaitDelivery(ctx, stack, from, match, count);
    const settled = Date.now() + 10_000;
    while ((await stack.pendingEmails()).pending > 0 && Date.now() < settled) await sleep(50);
    const secondExit = await second.stop();
    const records = (await ctx.sink.since(from)).filter((r) => match(r.to));
    return {
      exitMs, exitCode: exitCode ?? -1, jobs: count, activeJobs: active, smtpInFlight: inFlight,
      deliveredBeforeExit: beforeExit, deliveredAfterRestart: distinct(records) - beforeExit,
      lost: count - distinct(records), duplicated: records.length - distinct(records), secondMailerExitCode: secondExit ?? -1,
    };
  } finally {
    await ctx.sink.setDelay(0);
  }
}
