import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStorage, createS3Storage, type Storage } from '../src/index.ts';
import { startS3Server, type S3Server } from '../src/testing/index.ts';

/** One implementation under test, with what the contract needs to look behind it. */
interface Subject {
  storage: Storage;
  /** Partial writes of any kind still present (temporary files; multipart uploads and stray objects). */
  partials(): Promise<number>;
  /** Leaves a partial write as a crash mid-upload would. */
  leavePartial(): Promise<void>;
  /** Puts an object another tool wrote, under a name this service never makes. */
  putForeign(name: string): Promise<void>;
  close(): Promise<void>;
}

function localSubject(): Promise<Subject> {
  const dir = mkdtempSync(join(tmpdir(), 'cheershare-contract-'));
  const tmp = join(dir, '.incomplete');
  return Promise.resolve({
    storage: createLocalStorage(dir),
    partials: async () => (await readdir(tmp).catch(() => [])).length,
    async leavePartial() {
      await mkdir(tmp, { recursive: true });
      await writeFile(join(tmp, randomBytes(8).toString('hex')), 'half an image');
    },
    async putForeign(name) {
      await mkdir(join(dir, 'uploads'), { recursive: true });
      await writeFile(join(dir, 'uploads', name), 'not ours');
    },
    close: () => rm(dir, { recursive: true, force: true }),
  });
}

let server: S3Server | undefined;

async function s3Subject(): Promise<Subject> {
  server = await startS3Server();
  const { bucket, endpoint, credentials } = server;
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials });
  // A small page, so listing more than a handful of objects goes through continuation tokens.
  const storage = createS3Storage({ bucket, endpoint, region: 'us-east-1', forcePathStyle: true, credentials, prefix: 'contract', timeoutMs: 3_000, listPageSize: 3 });
  return {
    storage,
    async partials() {
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      const stray = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'contract/.incomplete/' }));
      return (uploads.Uploads?.length ?? 0) + (stray.KeyCount ?? 0);
    },
    async leavePartial() {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'contract/uploads/crashed' }));
      await client.send(new UploadPartCommand({ Bucket: bucket, Key: 'contract/uploads/crashed', UploadId, PartNumber: 1, Body: randomBytes(1024) }));
    },
    async putForeign(name) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `contract/uploads/${name}`, Body: 'not ours' }));
    },
    async close() {
      client.destroy();
      await server?.close();
    },
  };
}

const MiB = 1024 * 1024;

/** `count` chunks of 1 MiB, then (optionally) the source fails, as a client's broken upload does. */
async function* chunks(count: number, failWith?: Error): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) yield await Promise.resolve(randomBytes(MiB));
  if (failWith) throw failWith;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function drain(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe.each([
  ['local directory', localSubject],
  ['S3 (s3rver)', s3Subject],
])('storage contract: %s', (_name, make) => {
  let subject: Subject;
  let storage: Storage;
  beforeAll(async () => {
    subject = await make();
    storage = subject.storage;
  });
  afterAll(() => subject.close());

  it('writes an object and reads it back as a stream and as a buffer, with its size and date', async () => {
    const bytes = randomBytes(10_000);
    const before = Date.now();
    expect(await storage.write('images/one', bytes)).toEqual({ size: bytes.length });
    expect(await drain(storage.read('images/one'))).toEqual(bytes);
    expect(await storage.readBuffer('images/one')).toEqual(bytes);
    const stat = await storage.stat('images/one');
    expect(stat).toMatchObject({ key: 'images/one', size: bytes.length });
    // Object stores date to the second.
    expect(Math.abs(stat!.modifiedAt.getTime() - before)).toBeLessThan(5_000);
  });

  it('replaces an object written again under the same key', async () => {
    await storage.write('images/again', Buffer.from('first'));
    await storage.write('images/again', Buffer.from('second, longer'));
    expect((await storage.readBuffer('images/again')).toString()).toBe('second, longer');
  });

  it('streams a large write from an async source, several parts on S3, and counts its bytes', async () => {
    const sent: Buffer[] = [];
    async function* source() {
      for await (const c of chunks(12)) {
        sent.push(c);
        yield c;
      }
    }
    expect(await storage.write('uploads/large', source())).toEqual({ size: 12 * MiB });
    expect(sha(await storage.readBuffer('uploads/large'))).toBe(sha(Buffer.concat(sent)));
    expect(await subject.partials()).toBe(0);
  });

  it('answers a missing object: stat null, read and readBuffer fail with ENOENT', async () => {
    expect(await storage.stat('images/missing')).toBeNull();
    await expect(drain(storage.read('images/missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(storage.readBuffer('images/missing')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('deletes an object; deleting a missing one is no error', async () => {
    await storage.write('images/gone', Buffer.from('x'));
    await storage.delete('images/gone');
    expect(await storage.stat('images/gone')).toBeNull();
    await expect(storage.delete('images/gone')).resolves.toBeUndefined();
    await expect(storage.delete('images/never-was')).resolves.toBeUndefined();
  });

  it('lists every object under a prefix, across pages', async () => {
    const keys = Array.from({ length: 11 }, (_, i) => `thumbnails/page-${String(i).padStart(2, '0')}.webp`);
    for (const key of keys) await storage.write(key, Buffer.from(key));
    const listed: string[] = [];
    for await (const o of storage.list('thumbnails/')) listed.push(o.key);
    expect(listed.sort()).toEqual(keys);
    const all: string[] = [];
    for await (const o of storage.list('')) all.push(o.key);
    expect(all).toEqual(expect.arrayContaining([...keys, 'images/one', 'uploads/large']));
    expect(all.some((k) => k.startsWith('.'))).toBe(false);
  });

  it('lists only keys it could have written: another tool\'s object under its prefix is left alone', async () => {
    await subject.putForeign('My Photo (1).jpg');
    await subject.storage.write('uploads/ours', Buffer.from('ours'));
    const keys: string[] = [];
    for await (const o of subject.storage.list('uploads/')) keys.push(o.key);
    expect(keys).toContain('uploads/ours');
    expect(keys.filter((k) => k.includes('Photo'))).toEqual([]);
  });

  it('leaves nothing behind when a streamed write fails midway, and passes the source error on', async () => {
    const broken = new Error('the client went away');
    await expect(storage.write('uploads/broken', chunks(7, broken))).rejects.toBe(broken);
    const refused = new Error('not an image');
    await expect(storage.write('uploads/refused', chunks(0, refused))).rejects.toBe(refused);
    expect(await storage.stat('uploads/broken')).toBeNull();
    expect(await storage.stat('uploads/refused')).toBeNull();
    expect(await subject.partials()).toBe(0);
  });

  it('sweeps stale partial writes and keeps recent ones', async () => {
    await subject.leavePartial();
    expect(await subject.partials()).toBe(1);
    expect(await storage.sweepIncomplete(new Date(Date.now() - 3_600_000))).toBe(0);
    expect(await subject.partials()).toBe(1);
    expect(await storage.sweepIncomplete(new Date(Date.now() + 60_000))).toBe(1);
    expect(await subject.partials()).toBe(0);
  });

  it('refuses keys that are not storage keys', async () => {
    for (const key of ['', '../escape', 'a/../../b', '/absolute', '.incomplete/x', 'a//b', 'trailing/', 'with space', 'ünïcode', `${'a'.repeat(513)}`]) {
      await expect(storage.write(key, Buffer.from('x')), key).rejects.toThrow(/invalid storage key/);
      expect(() => storage.read(key), key).toThrow(/invalid storage key/);
      await expect(storage.readBuffer(key), key).rejects.toThrow(/invalid storage key/);
      await expect(storage.stat(key), key).rejects.toThrow(/invalid storage key/);
      await expect(storage.delete(key), key).rejects.toThrow(/invalid storage key/);
    }
  });

  it('is ready when it takes writes, and the probe leaves nothing', async () => {
    await expect(storage.ready()).resolves.toBeUndefined();
    expect(await subject.partials()).toBe(0);
  });
});
