import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { uniqueEmail } from '@cheershare/shared/testing';
import { startStack, type Stack } from './stack.ts';

// A real browser: Debian's chromium driven by playwright-core (no browser download). CI installs
// chromium; on a machine without it this block is reported as skipped, never as passed.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const USER = 'ops';
const PASSWORD = 'a long operator password for tests';

describe.runIf(existsSync(CHROMIUM))('operator board in a real browser', () => {
  let stack: Stack;
  let browser: Browser;
  beforeAll(async () => {
    stack = await startStack({ ADMIN_USER: USER, ADMIN_PASSWORD: PASSWORD });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('refuses a visitor without credentials', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const statuses: number[] = [];
    page.on('response', (r) => statuses.push(r.status()));
    // Headless Chromium turns the Basic challenge it cannot answer into a failed navigation.
    await expect(page.goto(`${stack.base}/admin/queues`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect(statuses).toEqual([401]);
    await context.close();
  });

  it('shows the three queues and a failed email job to an operator, and retrying it from the page delivers the mail', async () => {
    const email = uniqueEmail('board');
    // The server's refusal names the address, as real ones do: the board must not show it.
    stack.sink.planFor(email, { reject: 550, message: `<${email}> mailbox unavailable` });
    expect((await stack.call('POST', '/v1/auth/otp', { json: { email } })).status).toBe(202);
    await expect.poll(() => stack.sink.attemptsFor(email), { timeout: 10_000 }).toBe(1);

    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD } });
    const page = await context.newPage();
    await page.goto(`${stack.base}/admin/queues`);
    for (const queue of ['email', 'creatives', 'maintenance']) await expect.poll(() => page.getByText(queue, { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);

    await page.goto(`${stack.base}/admin/queues/queue/email?status=failed`);
    await page.getByText('permanent SMTP failure', { exact: false }).first().waitFor({ timeout: 10_000 });
    expect(await page.content()).toContain('&lt;[email]&gt; mailbox unavailable');
    expect(await page.content()).not.toContain(email);
    await page.getByRole('button', { name: /retry/i }).first().click();
    // Bull Board asks to confirm job actions (confirmJobActions is on by default): wait for its dialog.
    const confirm = page.getByRole('button', { name: /confirm|yes|ok/i });
    await confirm.first().waitFor({ timeout: 10_000 });
    await confirm.first().click();
    const mail = await stack.sink.waitForMail((m) => m.to.includes(email), 15_000);
    expect(mail.code).toMatch(/^\d{6}$/);
    await context.close();
  });
});
