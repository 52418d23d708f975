import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mannWhitneyP, uniqueEmail } from '@cheershare/shared/testing';
import { startApi, type TestApi } from './harness.ts';

// Samples per kind of address or challenge, taken interleaved so drift hits every kind alike.
const SAMPLES = 200;
const P_FAIL = 0.001;

function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * Runs `kinds` interleaved, SAMPLES times each, and returns each kind's latencies (ms), after
 * checking every answer of a round is the same status.
 */
async function sample(kinds: Record<string, () => Promise<{ status: number }>>): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
  for (let i = 0; i < SAMPLES; i++) {
    const statuses = new Set<number>();
    for (const kind of shuffled(Object.keys(kinds))) {
      const started = performance.now();
      const { status } = await kinds[kind]!();
      times[kind]!.push(performance.now() - started);
      statuses.add(status);
    }
    expect([...statuses]).toHaveLength(1);
  }
  return times;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('no enumeration by timing (rank test over interleaved samples)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi({ env: { OTP_RESEND_SECONDS: '30' } });
  });
  afterAll(() => api.close());

  function expectSameDistribution(times: Record<string, number[]>, baseline: string) {
    const report = Object.entries(times).map(([k, t]) => `${k}: median ${median(t).toFixed(2)} ms`).join(', ');
    for (const [kind, t] of Object.entries(times)) {
      if (kind === baseline) continue;
      const p = mannWhitneyP(times[baseline]!, t);
      expect(p, `${baseline} vs ${kind}: p = ${p.toExponential(2)} (${report})`).toBeGreaterThanOrEqual(P_FAIL);
    }
  }

  it('POST /v1/auth/otp takes as long for never-seen, signed-up and over-limit addresses', async () => {
    const members = await Promise.all(Array.from({ length: 10 }, async () => {
      const email = uniqueEmail('member');
      await api.signIn(email);
      return email;
    }));
    const hammered = uniqueEmail('hammered');
    let m = 0;
    const otp = (email: string) => () => api.request('POST', '/v1/auth/otp', { json: { email } });
    const times = await sample({
      neverSeen: () => otp(uniqueEmail('new'))(),
      member: () => otp(members[m++ % members.length]!)(),
      overLimit: otp(hammered),
    });
    expectSameDistribution(times, 'neverSeen');
  });

  it('POST /v1/auth/verify takes as long for a wrong code, and for unknown, used and never-mailed challenges', async () => {
    // Live challenges to guess at, four wrong guesses each (the fifth would end them).
    const live: string[] = [];
    for (let i = 0; i < Math.ceil(SAMPLES / 4); i++) live.push((await api.ask(uniqueEmail('live'))).challengeId);
    const used: string[] = [];
    for (let i = 0; i < 5; i++) {
      const asked = await api.ask(uniqueEmail('used'));
      await api.request('POST', '/v1/auth/verify', { json: { challenge_id: asked.challengeId, code: await api.codeFor(asked.challengeId) } });
      used.push(asked.challengeId);
    }
    const busy = uniqueEmail('busy');
    await api.ask(busy);
    const held = (await api.ask(busy)).challengeId;
    let guess = 0;
    let u = 0;
    const verify = (challengeId: string) => api.request('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code: '000000' } });
    const times = await sample({
      wrongCode: () => verify(live[Math.floor(guess++ / 4)]!),
      unknown: () => verify(crypto.randomUUID()),
      used: () => verify(used[u++ % used.length]!),
      neverMailed: () => verify(held),
    });
    expectSameDistribution(times, 'wrongCode');
  });
});
