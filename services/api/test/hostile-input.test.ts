import { generateKeyPairSync, createHmac } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueEmail } from '@cheershare/shared/testing';
import { startApi, type TestApi } from './harness.ts';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('hostile and malformed input', () => {
  let api: TestApi;
  let tokens: any;
  beforeAll(async () => {
    api = await startApi();
    tokens = await api.signIn(uniqueEmail());
  });
  afterAll(() => api.close());

  const challengeCount = async () => Number((await api.app.deps.db.selectFrom('otp_challenges').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  function expectErrorShape(body: any, code: string) {
    expect(body).toMatchObject({ error: { code, message: expect.any(String) } });
  }

  it.each([
    ['malformed JSON', { body: '{"email": ', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
    ['a non-JSON content type', { body: 'email=a@b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'unsupported_media_type'],
    ['no body', { headers: {} }, 415, 'unsupported_media_type'],
    ['an array body', { json: [] }, 400, 'invalid_request'],
    ['a number for email', { json: { email: 42 } }, 400, 'invalid_request'],
    ['an oversized body', { json: { email: 'a@b.test', name: 'x'.repeat(20_000) } }, 413, 'payload_too_large'],
    ['an email with CRLF header injection', { json: { email: 'victim@example.test\r\nBcc: all@example.test' } }, 400, 'invalid_request'],
    ['a name with a newline', { json: { email: 'a@example.test', name: 'Eve\r\nBcc: x@y.z' } }, 400, 'invalid_request'],
    ['an overlong email', { json: { email: `${'a'.repeat(250)}@example.test` } }, 400, 'invalid_request'],
  ])('rejects %s on /v1/auth/otp with a clear 4xx and changes nothing', async (_label, opts, status, code) => {
    const before = await challengeCount();
    const res = await api.request('POST', '/v1/auth/otp', opts);
    expect(res.status).toBe(status);
    expectErrorShape(res.body, code);
    expect(await challengeCount()).toBe(before);
  });

  it('lists the offending fields of a 400', async () => {
    const res = await api.request('POST', '/v1/auth/verify', { json: { challenge_id: 'nope', code: 12 } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['challenge_id', 'code']);
  });

  it.each(['12345x', '12345', '1234567', '123456789012'])('rejects the code %j (not 6 or 10 digits) with 400 and does not count it as an attempt', async (code) => {
    const asked = await api.ask(uniqueEmail());
    const res = await api.request('POST', '/v1/auth/verify', { json: { challenge_id: asked.challengeId, code } });
    expect(res.status).toBe(400);
    const row = await api.app.deps.db.selectFrom('otp_challenges').select('attempts').where('id', '=', asked.challengeId).executeTakeFirstOrThrow();
    expect(row.attempts).toBe(0);
  });

  it('rejects a refresh token of the wrong type or size', async () => {
    expect((await api.request('POST', '/v1/auth/refresh', { json: { refresh_token: 123 } })).status).toBe(400);
    expect((await api.request('POST', '/v1/auth/refresh', { json: { refresh_token: 'x'.repeat(600) } })).status).toBe(400);
    expect((await api.request('POST', '/v1/auth/refresh', { json: { refresh_token: 'made-up' } })).status).toBe(401);
  });

  describe('forged access tokens', () => {
    const forgeries: [string, () => string][] = [
      ['alg none', () => {
        const [, payload] = tokens.access_token.split('.');
        return `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`;
      }],
      ['HS256 signed with the public key', () => {
        const [h, p] = tokens.access_token.split('.');
        const header = { ...JSON.parse(Buffer.from(h, 'base64url').toString()), alg: 'HS256' };
        const body = `${b64(header)}.${p}`;
        return `${body}.${createHmac('sha256', JSON.stringify(api.app.deps.keys.current.publicKey.export({ format: 'jwk' }))).update(body).digest('base64url')}`;
      }],
      ['signed by another key with our kid', () => {
        const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
        const claims = jwt.decode(tokens.access_token) as object;
        return jwt.sign(claims, other, { algorithm: 'ES256', keyid: api.app.deps.keys.current.kid });
      }],
      ['a tampered payload', () => {
        const [h, p, s] = tokens.access_token.split('.');
        const claims = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: '00000000-0000-0000-0000-000000000000' };
        return `${h}.${b64(claims)}.${s}`;
      }],
      ['an unknown kid', () => {
        const [, p, s] = tokens.access_token.split('.');
        return `${b64({ alg: 'ES256', typ: 'JWT', kid: 'nope' })}.${p}.${s}`;
      }],
      ['garbage', () => 'not-a-jwt'],
      ['an expired token', () => {
        const claims = jwt.decode(tokens.access_token) as Record<string, unknown>;
        return jwt.sign({ ...claims, iat: 1_000, exp: 2_000 }, api.app.deps.keys.current.privateKey, { algorithm: 'ES256', keyid: api.app.deps.keys.current.kid });
      }],
      ['a token for another audience', () => {
        const claims = jwt.decode(tokens.access_token) as Record<string, unknown>;
        return jwt.sign({ ...claims, aud: 'someone-else' }, api.app.deps.keys.current.privateKey, { algorithm: 'ES256', keyid: api.app.deps.keys.current.kid });
      }],
    ];
    it.each(forgeries)('rejects %s with 401', async (_label, forge) => {
      const res = await api.request('GET', '/v1/me', { token: forge() });
      expect(res.status).toBe(401);
      expectErrorShape(res.body, 'invalid_token');
    });

    it('accepts the genuine token (the forgeries above are rejected for their forgery)', async () => {
      expect((await api.request('GET', '/v1/me', { token: tokens.access_token })).status).toBe(200);
    });

    it('rejects a non-Bearer Authorization header', async () => {
      const res = await api.request('GET', '/v1/me', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
      expect(res.status).toBe(401);
    });
  });

  it('answers unknown routes with a JSON 404 in the error shape', async () => {
    const res = await api.request('GET', '/v1/nope');
    expect(res.status).toBe(404);
    expectErrorShape(res.body, 'not_found');
  });

  it('replaces an unsafe X-Request-Id and keeps a safe one', async () => {
    const safe = await api.request('GET', '/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(safe.headers.get('x-request-id')).toBe('abc-123');
    const unsafe = await api.request('GET', '/healthz', { headers: { 'x-request-id': '<script>' } });
    expect(unsafe.headers.get('x-request-id')).not.toBe('<script>');
  });

  it('rejects a bad name on PATCH /v1/me and leaves the user unchanged', async () => {
    const before = await api.request('GET', '/v1/me', { token: tokens.access_token });
    for (const name of ['', 'x'.repeat(101), 42, 'a\u0000b']) {
      const res = await api.request('PATCH', '/v1/me', { token: tokens.access_token, json: { name } });
      expect(res.status).toBe(400);
    }
    expect((await api.request('GET', '/v1/me', { token: tokens.access_token })).body).toEqual(before.body);
  });
});
