import { createRemoteJWKSet, jwtVerify } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueClient, jobIds, loadMailerConfig } from '@cheershare/shared';
import { uniqueEmail } from '@cheershare/shared/testing';
import { startStack, type Stack } from './stack.ts';

async function query(databaseUrl: string, text: string, values: unknown[]) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

const deliveryRows = (databaseUrl: string, email: string) =>
  query(databaseUrl, 'select status, attempts, last_error from email_deliveries where recipient = $1', [email]);

describe('sign-in, end to end (api + mailer-worker as processes, real SMTP)', () => {
  let stack: Stack;
  beforeAll(async () => {
    // A short grace window for reused refresh tokens, so a test can see it end.
    stack = await startStack({ REFRESH_REUSE_GRACE_SECONDS: '1' });
  });
  afterAll(() => stack?.stop());

  it('signs a new user in with the emailed code and calls authenticated endpoints', async () => {
    const email = uniqueEmail();
    const { challengeId, code } = await stack.requestCode(email);
    const verified = await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } });
    expect(verified.status).toBe(200);
    const { access_token, refresh_token, user } = verified.body;
    expect(user.email).toBe(email);

    const jwks = createRemoteJWKSet(new URL(`${stack.base}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(access_token, jwks, { issuer: 'cheershare', audience: 'cheershare-api', algorithms: ['ES256'] });
    expect(payload.sub).toBe(user.id);

    expect((await stack.call('GET', '/v1/me', { token: access_token })).body.user.email).toBe(email);
    const renamed = await stack.call('PATCH', '/v1/me', { token: access_token, json: { name: 'Lin' } });
    expect(renamed.body.user.name).toBe('Lin');

    const rotated = await stack.call('POST', '/v1/auth/refresh', { json: { refresh_token } });
    expect(rotated.status).toBe(200);
    // Presented again within the grace window it answers the same new pair; after it, reuse
    // revokes the session.
    const repeats: string[] = [];
    await expect.poll(async () => {
      const reuse = await stack.call('POST', '/v1/auth/refresh', { json: { refresh_token } });
      if (reuse.status === 200) repeats.push(reuse.body.refresh_token);
      return reuse.status;
    }, { timeout: 10_000, interval: 100 }).toBe(401);
    expect(repeats.filter((t) => t !== rotated.body.refresh_token)).toEqual([]);
    expect((await stack.call('POST', '/v1/auth/refresh', { json: { refresh_token: rotated.body.refresh_token } })).status).toBe(401);
  });

  it('logs out: refresh and access tokens of the session stop working', async () => {
    const email = uniqueEmail();
    const tokens = (await stack.call('POST', '/v1/auth/verify', { json: await stack.requestCode(email).then(({ challengeId: id, code }) => ({ challenge_id: id, code })) })).body;
    expect((await stack.call('POST', '/v1/auth/logout', { token: tokens.access_token })).status).toBe(204);
    expect((await stack.call('POST', '/v1/auth/refresh', { json: { refresh_token: tokens.refresh_token } })).status).toBe(401);
    expect((await stack.call('GET', '/v1/me', { token: tokens.access_token })).status).toBe(401);
  });

  it('rejects a reused code and a code after 5 wrong attempts', async () => {
    const email = uniqueEmail();
    const { challengeId, code } = await stack.requestCode(email);
    expect((await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } })).status).toBe(200);
    expect((await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } })).status).toBe(401);

    const other = uniqueEmail();
    const good = await stack.requestCode(other);
    const bad = String((Number(good.code) + 1) % 1e6).padStart(6, '0');
    for (let i = 0; i < 5; i++) expect((await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: good.challengeId, code: bad } })).status).toBe(401);
    expect((await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: good.challengeId, code: good.code } })).status).toBe(401);
  });

  it('answers known and unknown emails identically, and mails both', async () => {
    const known = uniqueEmail('known');
    const first = await stack.requestCode(known);
    await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: first.challengeId, code: first.code } });
    const unknown = uniqueEmail('unknown');
    const a = await stack.call('POST', '/v1/auth/otp', { json: { email: known } });
    const b = await stack.call('POST', '/v1/auth/otp', { json: { email: unknown } });
    expect(a.status).toBe(b.status);
    expect({ ...a.body, challenge_id: '' }).toEqual({ ...b.body, challenge_id: '' });
    await stack.sink.waitForMail((m) => m.to.includes(unknown));
    await expect.poll(() => stack.sink.mails.filter((m) => m.to.includes(known)).length).toBe(2);
  });

  it('puts at most 5 codes an hour in one inbox, however its address is dressed up', async () => {
    const local = uniqueEmail('victim').split('@')[0]!;
    const addresses = Array.from({ length: 12 }, (_, i) => `${local}+${i}@example.test`);
    for (const email of addresses) expect((await stack.call('POST', '/v1/auth/otp', { json: { email } })).status).toBe(202);
    // Every job has run once its delivery is recorded as done: 5 sent, the rest held back.
    const rows = async () => (await Promise.all(addresses.map((a) => deliveryRows(stack.env.DATABASE_URL!, a)))).flat();
    await expect.poll(async () => (await rows()).filter((r: { status: string }) => r.status === 'sent' || r.status === 'skipped').length, { timeout: 15_000 })
      .toBe(addresses.length);
    const byStatus = (await rows()).reduce<Record<string, number>>((n, r: { status: string }) => ({ ...n, [r.status]: (n[r.status] ?? 0) + 1 }), {});
    expect(byStatus).toEqual({ sent: 5, skipped: 7 });
    expect(stack.sink.mails.filter((m) => m.to.some((t) => t.startsWith(`${local}+`)))).toHaveLength(5);
  });

  it('retries an SMTP 4xx and delivers', async () => {
    const email = uniqueEmail();
    stack.sink.planFor(email, { reject: 421, message: 'service not available, try later' });
    const { challengeId, code } = await stack.requestCode(email);
    expect((await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } })).status).toBe(200);
    // The mail reaches the sink before the worker records it as sent.
    await expect.poll(() => deliveryRows(stack.env.DATABASE_URL!, email), { timeout: 10_000 }).toMatchObject([{ status: 'sent', attempts: 2 }]);
  });

  it('does not retry an SMTP 5xx', async () => {
    const email = uniqueEmail();
    stack.sink.planFor(email, { reject: 554, message: 'transaction failed' });
    const asked = await stack.call('POST', '/v1/auth/otp', { json: { email } });
    expect(asked.status).toBe(202);
    // A job in the failed state is done for good; one to be retried waits as delayed, and only
    // the next sink reply is a 554, so a retry would end completed and never get here.
    const queues = createQueueClient(loadMailerConfig(stack.env).queue);
    try {
      const emails = queues.producer('email', {});
      await expect.poll(async () => (await emails.getJob(jobIds.otpEmail(asked.body.challenge_id as string)))?.getState(), { timeout: 10_000 }).toBe('failed');
    } finally {
      await queues.close();
    }
    expect(await deliveryRows(stack.env.DATABASE_URL!, email)).toMatchObject([{ status: 'failed', attempts: 1 }]);
    expect(stack.sink.attemptsFor(email)).toBe(1);
  });

  it('rejects an expired code (short configured lifetime)', async () => {
    const shortLived = await stack.startApi({ OTP_TTL_SECONDS: '1' });
    try {
      const email = uniqueEmail();
      const seen = stack.sink.mails.length;
      const call = (path: string, json: unknown) => fetch(shortLived.base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) });
      const asked = await call('/v1/auth/otp', { email });
      expect(asked.status).toBe(202);
      const { challenge_id: challengeId } = (await asked.json()) as { challenge_id: string };
      const mail = await stack.sink.waitForMail((m) => stack.sink.mails.indexOf(m) >= seen && m.to.includes(email));
      // A process of its own has no clock to move: wait until the expiry the API recorded has
      // passed on the clock it reads (this machine's), rather than guessing how long that takes.
      const [{ expires_at: expiresAt }] = await query(stack.env.DATABASE_URL!, 'select expires_at from otp_challenges where id = $1', [challengeId]) as [{ expires_at: Date }];
      await expect.poll(() => Date.now() > expiresAt.getTime(), { timeout: 5_000 }).toBe(true);
      expect((await call('/v1/auth/verify', { challenge_id: challengeId, code: mail.code })).status).toBe(401);
    } finally {
      expect(await shortLived.proc.stop()).toBe(0);
    }
  });

  it('never prints codes or tokens in the services’ logs', async () => {
    const email = uniqueEmail();
    const { challengeId, code } = await stack.requestCode(email);
    const tokens = (await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } })).body;
    await stack.call('GET', '/v1/me', { token: tokens.access_token });
    const output = [...stack.api.output, ...stack.mailer.output].join('\n');
    expect(output).toContain('"msg":"request"');
    expect(output).not.toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));
    expect(output).not.toContain(tokens.access_token);
    expect(output).not.toContain(tokens.refresh_token);
  });
});
