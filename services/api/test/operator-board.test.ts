import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from './harness.ts';

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('operator board (Bull Board at /admin/queues)', () => {
  let api: TestApi;
  let readOnly: TestApi;
  beforeAll(async () => {
    api = await startApi({ env: { ADMIN_USER: USER, ADMIN_PASSWORD: PASSWORD } });
    readOnly = await startApi({ env: { ADMIN_USER: USER, ADMIN_PASSWORD: PASSWORD, ADMIN_READ_ONLY: 'true' } });
  });
  afterAll(async () => {
    await api.close();
    await readOnly.close();
  });
  const auth = { authorization: basic(USER, PASSWORD) };

  it('is off when no operator credentials are configured', async () => {
    const plain = await startApi();
    try {
      expect((await plain.request('GET', '/admin/queues')).status).toBe(404);
    } finally {
      await plain.close();
    }
  });

  it('refuses anyone without the operator credentials, in the one error shape', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: basic(USER, 'wrong') }, { authorization: basic('someone', PASSWORD) }, { authorization: 'Bearer x' }]) {
      const res = await api.request('GET', '/admin/queues/api/queues', { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });

  it('shows the three queues, with job data redacted', async () => {
    const page = await api.request('GET', '/admin/queues', { headers: auth });
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain('<html');
    const email = `ops-${randomUUID().slice(0, 8)}@example.test`;
    const asked = await api.ask(email);
    expect(asked.status).toBe(202);
    const queues = await api.request('GET', '/admin/queues/api/queues?activeQueue=email&status=latest', { headers: auth });
    expect(queues.status).toBe(200);
    expect(queues.body.queues.map((q: { name: string }) => q.name).sort()).toEqual(['creatives', 'email', 'maintenance']);
    const shown = JSON.stringify(queues.body);
    const otpJob = queues.body.queues.find((q: { name: string }) => q.name === 'email').jobs.find((j: { name: string }) => j.name === 'otp');
    expect(otpJob.data.sealedCode).toBe('[redacted]');
    expect(shown).not.toContain(email);
    expect(shown).not.toContain(await api.codeFor(asked.challengeId));
  });

  it('refuses state changes that come from another site, and allows them from the board itself', async () => {
    const path = '/admin/queues/api/queues/email/retry/failed';
    const crossSite = await api.request('PUT', path, { headers: { ...auth, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.error.code).toBe('cross_site_request');
    const otherOrigin = await api.request('PUT', path, { headers: { ...auth, origin: 'https://evil.example' } });
    expect(otherOrigin.status).toBe(403);
    const sameOrigin = await api.request('PUT', path, { headers: { ...auth, 'sec-fetch-site': 'same-origin', origin: api.base } });
    expect(sameOrigin.status).toBe(200);
    // Behind a TLS proxy that rewrites Host, the browser's same-origin verdict is what counts.
    const proxied = await api.request('PUT', path, { headers: { ...auth, 'sec-fetch-site': 'same-origin', origin: 'https://queues.example.com' } });
    expect(proxied.status).toBe(200);
  });

  it('refuses every change in read-only mode', async () => {
    const res = await readOnly.request('PUT', '/admin/queues/api/queues/email/retry/failed', { headers: { ...auth, 'sec-fetch-site': 'same-origin', origin: readOnly.base } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('read_only');
    expect((await readOnly.request('GET', '/admin/queues/api/queues', { headers: auth })).status).toBe(200);
  });

  it('locks out a client after 10 wrong passwords, without telling it which part was wrong', async () => {
    const guesser = await startApi({ env: { ADMIN_USER: USER, ADMIN_PASSWORD: PASSWORD } });
    try {
      for (let i = 0; i < 10; i++) expect((await guesser.request('GET', '/admin/queues', { headers: { authorization: basic(USER, `guess-${i}`) } })).status).toBe(401);
      const locked = await guesser.request('GET', '/admin/queues', { headers: auth });
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await guesser.close();
    }
  });
});
