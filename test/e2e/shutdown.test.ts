import { afterEach, describe, expect, it } from 'vitest';
import { startService, uniqueEmail } from '@cheershare/shared/testing';
import { send, slowPost } from './http-client.ts';
import { API_ENTRY, startStack, type Stack } from './stack.ts';

describe('graceful shutdown of the real processes', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('mailer-worker: SIGTERM during a slow SMTP delivery lets the mail arrive, then exits 0', async () => {
    stack = await startStack();
    stack.sink.setDelay(2_000);
    const email = uniqueEmail();
    expect((await stack.call('POST', '/v1/auth/otp', { json: { email } })).status).toBe(202);
    // The message is on the wire and the server is sitting on its answer.
    await expect.poll(() => stack!.sink.attemptsFor(email), { timeout: 10_000, interval: 20 }).toBe(1);
    expect(stack.sink.mails.some((m) => m.to.includes(email))).toBe(false);
    const code = await stack.mailer.stop('SIGTERM');
    expect(code).toBe(0);
    expect(stack.sink.mails.some((m) => m.to.includes(email))).toBe(true);
    expect(stack.mailer.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);
  });

  it('api: SIGTERM finishes in-flight requests, refuses new connections, exits 0', async () => {
    stack = await startStack();
    // Hold a request in flight: a slow mail does not slow the API, so use a slow body instead.
    const slow = await slowPost(stack.base, '/v1/auth/otp', '{"email":');
    const exit = stack.api.stop('SIGTERM');
    // The rest of the body arrives only once the listener is closed.
    await stack.api.waitForLog((l) => l.msg === 'stopped accepting connections');
    expect((await send(stack.base, '/healthz', { agent: false })).error).toBe('ECONNREFUSED');
    expect(await slow.finish(`${JSON.stringify(uniqueEmail())}}`)).toMatchObject({ status: 202 });
    expect(await exit).toBe(0);
    await expect(fetch(`${stack.base}/healthz`)).rejects.toThrow();
  });

  it('api: a second signal forces a non-zero exit', async () => {
    stack = await startStack({ SHUTDOWN_GRACE_MS: '30000' });
    // An unfinished request keeps the drain waiting.
    const slow = await slowPost(stack.base, '/v1/auth/otp', '{');
    stack.api.child.kill('SIGTERM');
    await stack.api.waitForLog((l) => l.msg === 'draining');
    stack.api.child.kill('SIGINT');
    expect(await stack.api.exited).toBe(1);
    slow.destroy();
  });

  it('api: drains and exits 0 on SIGTERM even when whoever read its output is gone', async () => {
    stack = await startStack();
    const orphan = startService(API_ENTRY, { ...stack.env, SHUTDOWN_GRACE_MS: '5000' });
    await orphan.waitForLog((l) => l.msg === 'api listening');
    // As when a runner is killed: the pipe the service logs into has no reader any more.
    orphan.child.stdout?.destroy();
    orphan.child.stderr?.destroy();
    const started = Date.now();
    expect(await orphan.stop('SIGTERM', 10_000)).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
