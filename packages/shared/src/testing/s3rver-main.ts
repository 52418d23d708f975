// The S3 test server as a process of its own (started by startS3Server): s3rver on
// S3RVER_ADDRESS:S3RVER_PORT with one bucket, S3RVER_BUCKET, kept in S3RVER_DIR.
// Needs --openssl-legacy-provider: s3rver seals ListObjectsV2 continuation tokens with DES.
import { unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { multipartExtension } from './s3rver-multipart.ts';

interface S3rverInstance {
  middleware: unknown[];
  store: Parameters<typeof multipartExtension>[0];
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): void;
}

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (options: object) => S3rverInstance;
const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const server = new S3rver({
  address: process.env.S3RVER_ADDRESS ?? '127.0.0.1', port: Number(env('S3RVER_PORT')), directory: env('S3RVER_DIR'),
  silent: true, vhostBuckets: false, configureBuckets: [{ name: env('S3RVER_BUCKET') }],
});
// s3rver removes a folder once a delete leaves it empty, racing any write into it: concurrent
// readiness probes (a put and a delete each under .incomplete/) crashed it within seconds with an
// unhandled ENOENT. Deletes here remove the object's files and leave folders, as S3 has none.
const store = server.store as unknown as { getResourcePath(bucket: string, key: string, kind: string): string; deleteObject(bucket: string, key: string): Promise<void> };
store.deleteObject = async (bucket, key) => {
  await Promise.all(['object', 'object.md5', 'metadata.json'].map((kind) => unlink(store.getResourcePath(bucket, key, kind)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  })));
};
// Before s3rver's router (its last middleware), after its XML encoder and vhost handling.
if (!process.env.S3RVER_PLAIN) server.middleware.splice(server.middleware.length - 1, 0, multipartExtension(server.store));
server.on('error', (err) => {
  // The store's own failures answer 500 InternalError; printed so a test's output shows why.
  if ((err as { status?: number }).status === undefined || (err as { status?: number }).status! >= 500) process.stderr.write(`${JSON.stringify({ msg: 's3rver error', error: String(err.stack ?? err) })}\n`);
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ msg: 's3rver listening', port })}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void server.close().finally(() => process.exit(0));
  });
}
