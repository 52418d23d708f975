import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({ write: (c: Buffer, _e, cb) => { lines.push(c.toString()); cb(); } });
  return { logger: createLogger({ level: 'debug', name: 't', destination }), text: () => lines.join('') };
}

describe('logger redaction', () => {
  it('censors codes, tokens and Authorization headers wherever they sit', () => {
    const { logger, text } = capture();
    logger.info({ code: '314159' }, 'top');
    logger.info({ body: { email: 'a@b.c', code: '271828' } }, 'nested');
    logger.info({ req: { headers: { authorization: 'Bearer eyJsecret' } } }, 'request');
    logger.info({ tokens: { access_token: 'eyJaccess', refresh_token: 'refreshsecret' } }, 'tokens');
    logger.info({ job: { data: { sealedCode: 'v1.sealed' } } }, 'job');
    logger.info({ smtp: { auth: { pass: 'hunter2' } } }, 'smtp');
    const out = text();
    for (const secret of ['314159', '271828', 'eyJsecret', 'eyJaccess', 'refreshsecret', 'v1.sealed', 'hunter2']) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('[redacted]');
    logger.error({ err: Object.assign(new Error('connect failed'), { code: 'ECONNREFUSED' }) }, 'error codes stay');
    expect(text()).toContain('ECONNREFUSED');
    expect(out).toContain('a@b.c');
  });
});
