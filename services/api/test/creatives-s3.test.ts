import { request as httpRequest } from 'node:http';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creativeKeys } from '@cheershare/shared';
import { hostileFiles, makeImage, startS3Server, uniqueEmail, type S3Server } from '@cheershare/shared/testing';
import { manualClock, startApi, type TestApi } from './harness.ts';

const MiB = 1024 * 1024;

describe('creatives API on S3 storage (STORAGE=s3, s3rver)', () => {
  const clock = manualClock(new Date('2026-06-15T12:00:00Z'));
  const today = '2026-06-15';
  let s3: S3Server;
  let client: S3Client;
  let api: TestApi;
  let token: string;
  let png: Buffer;

  beforeAll(async () => {
    s3 = await startS3Server();
    // The SDK's default chain reads these, as a deployment's environment or instance role provides them.
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _secret, ...storageEnv } = s3.env;
    api = await startApi({ clock, env: { ...storageEnv, S3_PREFIX: 'api', S3_TIMEOUT_MS: '1000', UPLOAD_MAX_BYTES: String(6 * MiB) } });
    client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    token = (await api.signIn(uniqueEmail('s3'))).access_token as string;
    png = await makeImage('png');
  });
  afterAll(async () => {
    await api?.close();
    client?.destroy();
    await s3?.close();
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
  });

  const objects = async () => ((await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).Contents ?? []).map((o) => o.Key!).sort();
  const multipartUploads = async () => (await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))).Uploads?.length ?? 0;
  const form = (file: Buffer, type = 'image/png') => {
    const fd = new FormData();
    fd.append('scheduled_on', today);
    fd.append('file', new Blob([new Uint8Array(file)], { type }), 'picture.png');
    return fd;
  };
  const upload = (file: Buffer) => api.request('POST', '/v1/creatives', { token, body: form(file) });

  it('streams an upload into the bucket under S3_PREFIX', async () => {
    const res = await upload(png);
    expect(res.status).toBe(202);
    const id = res.body.creative.id as string;
    expect(await objects()).toContain(`api/${creativeKeys.upload(id)}`);
    expect(await api.app.deps.storage.readBuffer(creativeKeys.upload(id))).toEqual(png);
  });

  it.each([
    ['4 MB of non-image bytes', () => Buffer.alloc(4 * MiB, 0x41), 415],
    ['a file over the upload limit, past the first 5 MiB part', () => hostileFiles.oversized(7 * MiB), 413],
  ] as const)('%s: refused, and nothing is left in the bucket', async (_label, file, status) => {
    const before = await objects();
    expect((await upload(file())).status).toBe(status);
    expect(await objects()).toEqual(before);
    expect(await multipartUploads()).toBe(0);
  });

  it('an upload the client abandons half-way leaves no object and no multipart upload', async () => {
    const before = await objects();
    const boundary = 'cheershare-abort';
    const req = httpRequest(`${api.base}/v1/creatives`, {
      method: 'POST',
      headers: { 'authorization': `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(20 * MiB) },
    });
    req.on('error', () => {});
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="scheduled_on"\r\n\r\n${today}\r\n`
      + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n`);
    req.write(png);
    req.write(Buffer.alloc(6 * MiB, 7));
    // Half-way means the store has begun: a multipart upload with its first part is under way.
    await expect.poll(multipartUploads, { timeout: 10_000 }).toBe(1);
    req.destroy();
    await expect.poll(multipartUploads, { timeout: 10_000 }).toBe(0);
    expect(await objects()).toEqual(before);
  });

  it('serves the image and thumbnail from the bucket with ETag, and 304 when unchanged', async () => {
    const id = (await upload(png)).body.creative.id as string;
    const { storage, db } = api.app.deps;
    const thumb = await makeImage('webp');
    await storage.write(creativeKeys.image(id), png);
    await storage.write(creativeKeys.thumbnail(id), thumb);
    await db.updateTable('creatives').set({
      status: 'ready', image_key: creativeKeys.image(id), thumbnail_key: creativeKeys.thumbnail(id), mime: 'image/png',
      width: 64, height: 48, byte_size: png.length, sha256: 'c'.repeat(64), processed_at: clock.now(),
    }).where('id', '=', id).execute();
    const headers = { authorization: `Bearer ${token}` };
    const image = await fetch(`${api.base}/v1/creatives/${id}/image`, { headers });
    expect(image.status).toBe(200);
    expect(image.headers.get('etag')).toBe(`"${'c'.repeat(64)}"`);
    expect(image.headers.get('content-length')).toBe(String(png.length));
    expect(Buffer.from(await image.arrayBuffer())).toEqual(png);
    expect((await fetch(`${api.base}/v1/creatives/${id}/image`, { headers: { ...headers, 'if-none-match': image.headers.get('etag')! } })).status).toBe(304);
    const thumbnail = await fetch(`${api.base}/v1/creatives/${id}/thumbnail`, { headers });
    expect(thumbnail.headers.get('etag')).toBe(`"${'c'.repeat(64)}-thumb"`);
    expect(Buffer.from(await thumbnail.arrayBuffer())).toEqual(thumb);
  });

  it('answers 503 in the one error shape while the store is down, and readiness says storage', async () => {
    const id = (await api.request('GET', '/v1/creatives', { token })).body.creatives
      .find((c: { status: string }) => c.status === 'ready').id as string;
    await s3.stop();
    try {
      const started = Date.now();
      const image = await api.request('GET', `/v1/creatives/${id}/image`, { token });
      expect(image.status).toBe(503);
      expect(image.body).toEqual({ error: { code: 'service_unavailable', message: 'A backing service is unavailable; try again shortly.' } });
      expect(image.headers.get('retry-after')).toBe('5');
      const uploaded = await upload(png);
      expect(uploaded.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(5_000);
      const ready = await api.request('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toMatchObject({ database: true, queue: true, storage: false });
    } finally {
      await s3.start();
    }
    await expect.poll(async () => (await api.request('GET', '/readyz')).status, { timeout: 10_000 }).toBe(200);
    expect((await api.request('GET', `/v1/creatives/${id}/image`, { token })).status).toBe(200);
  });
});
