import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from './harness.ts';

describe('API reference', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it('serves an OpenAPI 3.1 document of every client route, every status in the one error shape', async () => {
    const res = await api.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/.well-known/jwks.json', '/healthz', '/openapi.json', '/readyz',
      '/v1/auth/logout', '/v1/auth/logout-all', '/v1/auth/mfa/verify', '/v1/auth/otp', '/v1/auth/refresh', '/v1/auth/verify',
      '/v1/creatives', '/v1/creatives/scheduled', '/v1/creatives/{id}', '/v1/creatives/{id}/image', '/v1/creatives/{id}/thumbnail',
      '/v1/me', '/v1/me/activity', '/v1/me/mfa/totp', '/v1/me/mfa/totp/confirm', '/v1/me/sessions', '/v1/me/sessions/{id}',
    ]);
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, any> }>>)) {
      for (const [method, op] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) >= 400 && path !== '/readyz') expect(response.content['application/json'].schema, `${method} ${path} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
        }
      }
    }
    expect(doc.paths['/readyz'].get.responses['503'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Readiness' });
    // Requests are described by the same schemas that validate them: the limits show.
    expect(doc.components.schemas.VerifyOtp.properties.code.pattern).toBe('^(\\d{6}|\\d{10})$');
    expect(doc.components.schemas.OwnCreative.additionalProperties).toBe(false);
    expect(doc.components.schemas.User.properties.id.format).toBe('uuid');
  });

  it('serves a readable page at /docs from its own files, with no CDN', async () => {
    const page = await api.request('GET', '/docs/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(String(page.body)).not.toMatch(/https?:\/\//);
    for (const asset of ['/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css', '/docs/init.js']) {
      const res = await fetch(api.base + asset);
      expect(res.status, asset).toBe(200);
      await res.arrayBuffer();
    }
  });
});
