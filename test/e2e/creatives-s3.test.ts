import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueClient, dateIn, loadSchedulerConfig, maintenanceJobOptions } from '@cheershare/shared';
import { makeImage, ownDatabase, startS3Server, uniqueEmail, type S3Server } from '@cheershare/shared/testing';
import { startStack, type Stack } from './stack.ts';

describe('creatives on S3, end to end (api + scheduler + mailer-worker as processes, s3rver)', () => {
  let s3: S3Server;
  let client: S3Client;
  let database: Awaited<ReturnType<typeof ownDatabase>>;
  let stack: Stack;
  let token: string;

  beforeAll(async () => {
    s3 = await startS3Server();
    client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    // Cleanup deletes across the whole database: one nobody else is using.
    database = await ownDatabase();
    // No UPLOAD_DIR of their own: every service reaches files through the bucket only.
    stack = await startStack({ ...s3.env, S3_TIMEOUT_MS: '1000', DATABASE_URL: database.url, UPLOAD_DIR: '/nonexistent/cheershare-e2e' }, { scheduler: true });
    const email = uniqueEmail();
    const { challengeId, code } = await stack.requestCode(email);
    token = (await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } })).body.access_token as string;
  });
  afterAll(async () => {
    await stack?.stop();
    client?.destroy();
    await s3?.close();
    await database?.drop();
  });

  const objects = async () => ((await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).Contents ?? []).map((o) => o.Key!).sort();
  const multipartUploads = async () => (await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))).Uploads?.length ?? 0;
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${stack.base}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

  async function uploadAndSettle() {
    const fd = new FormData();
    fd.append('scheduled_on', dateIn('UTC', new Date()));
    fd.append('file', new Blob([new Uint8Array(await makeImage('jpeg', { width: 640, height: 480 }))]), 'picture.jpg');
    const res = await fetch(`${stack.base}/v1/creatives`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: fd });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { creative: { id: string } }).creative.id;
    let creative: any;
    await expect.poll(async () => {
      creative = (await stack.call('GET', `/v1/creatives/${id}`, { token })).body.creative;
      return creative.status;
    }, { timeout: 20_000, interval: 100 }).not.toBe('processing');
    return creative;
  }

  /** Runs cleanup now, as `npm run task -- cleanup` does, and waits for its outcome. */
  async function runCleanup() {
    const queues = createQueueClient(loadSchedulerConfig(stack.env).queue);
    try {
      const maintenance = queues.producer('maintenance', maintenanceJobOptions());
      const jobId = `manual-cleanup-${Date.now()}`;
      await maintenance.add('cleanup', {}, { jobId });
      await expect.poll(async () => (await maintenance.getJob(jobId))?.getState(), { timeout: 20_000 }).toBe('completed');
      return (await maintenance.getJob(jobId))?.returnvalue as Record<string, number>;
    } finally {
      await queues.close();
    }
  }

  it('upload on the API → processed by the scheduler → served from the bucket with ETag and 304 → deleted with every object; stale multipart uploads swept', async () => {
    const creative = await uploadAndSettle();
    expect(creative).toMatchObject({ status: 'ready', mime: 'image/jpeg', width: 640, height: 480 });
    // The scheduler read the upload from the bucket, wrote the results there and removed the upload.
    expect(await objects()).toEqual([`images/${creative.id}`, `thumbnails/${creative.id}.webp`]);

    const image = await get(creative.image_url);
    expect(image.status).toBe(200);
    expect(image.headers.get('etag')).toBe(`"${creative.sha256}"`);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    expect((await image.arrayBuffer()).byteLength).toBe(Number(image.headers.get('content-length')));
    expect((await get(creative.image_url, { 'if-none-match': image.headers.get('etag')! })).status).toBe(304);
    const thumb = await get(creative.thumbnail_url);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    expect(thumb.headers.get('etag')).toBe(`"${creative.sha256}-thumb"`);
    expect((await get(creative.thumbnail_url, { 'if-none-match': thumb.headers.get('etag')! })).status).toBe(304);

    expect((await stack.call('DELETE', `/v1/creatives/${creative.id}`, { token })).status).toBe(204);
    expect((await get(creative.image_url)).status).toBe(404);
    // And an upload a crashed API left two hours ago (s3rver dates it by its folder's key file).
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: 'uploads/crashed' }));
    await client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: 'uploads/crashed', UploadId, PartNumber: 1, Body: Buffer.alloc(1024) }));
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(join(s3.dir, s3.bucket, '._S3rver_uploads', UploadId!, 'key'), twoHoursAgo, twoHoursAgo);
    expect(await runCleanup()).toMatchObject({ deletedCreatives: 1, incompleteUploads: 1 });
    expect(await objects()).toEqual([]);
    expect(await multipartUploads()).toBe(0);
  });

  it('answers 503 and both services are unready (storage) while the store is down; all recover on their own', async () => {
    const creative = await uploadAndSettle();
    const readiness = async (url: string) => {
      const res = await fetch(url);
      return { status: res.status, checks: ((await res.json()) as { checks: Record<string, boolean> }).checks };
    };
    const apiReady = `${stack.base}/readyz`;
    const schedulerReady = `http://127.0.0.1:${stack.operators.scheduler!}/readyz`;
    await s3.stop();
    try {
      const image = await get(creative.image_url);
      expect(image.status).toBe(503);
      expect(await image.json()).toMatchObject({ error: { code: 'service_unavailable' } });
      expect(await readiness(apiReady)).toMatchObject({ status: 503, checks: { storage: false, database: true, queue: true } });
      expect(await readiness(schedulerReady)).toMatchObject({ status: 503, checks: { storage: false, database: true, queue: true } });
    } finally {
      await s3.start();
    }
    await expect.poll(() => readiness(apiReady), { timeout: 10_000 }).toMatchObject({ status: 200 });
    await expect.poll(() => readiness(schedulerReady), { timeout: 10_000 }).toMatchObject({ status: 200 });
    expect((await get(creative.image_url)).status).toBe(200);
  });
});
