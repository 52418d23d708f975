import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createS3Storage, createStorage, StorageUnavailableError, type Storage } from '../src/index.ts';
import { startS3Server, startTcpProxy, type S3Server, type TcpProxy } from '../src/testing/index.ts';

const MiB = 1024 * 1024;
const TIMEOUT_MS = 1_000;

async function* chunks(count: number, pauseMs = 0): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) {
    // A slow client: the pacing of the source, not a wait for something to happen.
    if (pauseMs) await sleep(pauseMs);
    yield randomBytes(MiB);
  }
}

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += (c as Buffer).length;
  return n;
}

/** How long `op` took to reject, and with what. */
async function rejection(op: () => Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = Date.now();
  try {
    await op();
  } catch (err) {
    return { err, ms: Date.now() - started };
  }
  throw new Error('expected a rejection');
}

describe('S3 storage', () => {
  let s3: S3Server;
  let proxy: TcpProxy;
  let storage: Storage;
  let client: S3Client;

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: s3.port });
    // Through the proxy, so tests can make the store go silent.
    storage = createS3Storage({
      bucket: s3.bucket, endpoint: proxy.via(s3.endpoint), region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials, prefix: 'tenant/a', timeoutMs: TIMEOUT_MS,
    });
    client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
  });
  afterAll(async () => {
    client.destroy();
    await proxy.close();
    await s3.close();
  });


  it('answers readiness probes from several replicas at once (each a put and a delete under .incomplete/)', async () => {
    const replicas = [storage, createS3Storage({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials, prefix: 'tenant/a', timeoutMs: TIMEOUT_MS })];
    // Three probe loops, as three replicas' load balancer checks would run.
    const failures: unknown[] = [];
    await Promise.all([0, 1, 2].map(async (i) => {
      for (let n = 0; n < 100; n++) await replicas[i % 2]!.ready().catch((err: unknown) => failures.push(err));
    }));
    expect(failures).toEqual([]);
  });
  it('sweeps on a server that cannot list multipart uploads (501): a warning, not an outage', async () => {
    const plain = await startS3Server({ withoutMultipartListing: true });
    const warnings: string[] = [];
    const logger = createLogger({ level: 'warn', name: 'plain-s3', destination: { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) } });
    try {
      const store = createS3Storage({ bucket: plain.bucket, endpoint: plain.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: plain.credentials, timeoutMs: TIMEOUT_MS }, logger);
      await store.write('uploads/kept', Buffer.from('x'));
      await expect(store.sweepIncomplete(new Date())).resolves.toBe(0);
      expect(warnings).toEqual(['this S3 server cannot list multipart uploads: set a bucket lifecycle rule that aborts incomplete ones']);
      expect(await store.stat('uploads/kept')).not.toBeNull();
    } finally {
      await plain.close();
    }
  });

  it('keeps every key under its prefix, and lists none of another prefix', async () => {
    await storage.write('images/x', Buffer.from('x'));
    const raw = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    expect(raw.Contents?.map((o) => o.Key)).toEqual(['tenant/a/images/x']);
    const neighbour = createS3Storage({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials, prefix: 'tenant/b', timeoutMs: TIMEOUT_MS });
    const seen: string[] = [];
    for await (const o of neighbour.list('')) seen.push(o.key);
    expect(seen).toEqual([]);
    await storage.delete('images/x');
  });

  it('is chosen by createStorage from config', async () => {
    const chosen = createStorage({ kind: 's3', bucket: s3.bucket, prefix: '', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, timeoutMs: TIMEOUT_MS, credentials: s3.credentials });
    await chosen.write('chosen', Buffer.from('s3'));
    expect((await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'chosen' }))).KeyCount).toBe(1);
    await chosen.delete('chosen');
  });

  it('gives each part of an upload the deadline, not the whole upload', async () => {
    // Twelve 1 MiB chunks at 150 ms each: the upload takes well over the 1 s deadline.
    const started = Date.now();
    expect(await storage.write('uploads/slow', chunks(12, 150))).toEqual({ size: 12 * MiB });
    expect(Date.now() - started).toBeGreaterThan(TIMEOUT_MS);
    await storage.delete('uploads/slow');
  });

  describe('when the store is down', () => {
    const operations: [string, (st: Storage) => Promise<unknown>][] = [
      ['stat', (st) => st.stat('images/x')],
      ['read', (st) => drain(st.read('images/x'))],
      ['readBuffer', (st) => st.readBuffer('images/x')],
      ['write (buffer)', (st) => st.write('images/x', Buffer.from('x'))],
      ['write (7 MiB stream, multipart)', (st) => st.write('uploads/x', chunks(7))],
      ['delete', (st) => st.delete('images/x')],
      ['list', (st) => drain((async function* () {
        for await (const o of st.list('')) yield Buffer.from(o.key);
      })())],
      ['sweepIncomplete', (st) => st.sweepIncomplete(new Date())],
      ['ready', (st) => st.ready()],
    ];

    it.each(operations)('%s rejects with StorageUnavailableError at once when it refuses connections', async (_name, op) => {
      await s3.stop();
      try {
        const { err, ms } = await rejection(() => op(storage));
        expect(err).toBeInstanceOf(StorageUnavailableError);
        expect(ms).toBeLessThan(TIMEOUT_MS);
      } finally {
        await s3.start();
      }
      await expect(storage.ready()).resolves.toBeUndefined();
    });

    it.each(operations)('%s rejects with StorageUnavailableError within its deadline when it goes silent', async (_name, op) => {
      proxy.blackhole();
      try {
        const { err, ms } = await rejection(() => op(storage));
        expect(err).toBeInstanceOf(StorageUnavailableError);
        // Whole calls within the deadline; an upload's part may take its one retry.
        expect(ms).toBeLessThan(2 * TIMEOUT_MS + 1_000);
      } finally {
        proxy.restore();
      }
    });

    it('a read that stalls midway errors with StorageUnavailableError instead of hanging', async () => {
      await storage.write('images/big', (async function* () {
        yield* chunks(24);
      })());
      const stream = storage.read('images/big');
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      proxy.blackhole();
      try {
        const started = Date.now();
        await expect((async () => {
          for (;;) if ((await it.next()).done) return;
        })()).rejects.toBeInstanceOf(StorageUnavailableError);
        expect(Date.now() - started).toBeLessThan(2 * TIMEOUT_MS + 1_000);
      } finally {
        proxy.restore();
      }
      await storage.delete('images/big');
    });
  });
});
