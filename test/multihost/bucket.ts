// The shared bucket as the test sees it, through the client namespace's relay.
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { INCOMPLETE_PREFIX } from '../../packages/shared/src/storage/storage.ts';
import { agentTo, type Endpoint } from './client.ts';

/**
 * An object the test keeps in the store's internal folder for the whole run. s3rver deletes a
 * folder once its last object is gone, and crashes (an unhandled ENOENT) when a write lands in it
 * meanwhile: with several replicas probing readiness at once (each probe puts and deletes an
 * object there) it died within seconds. A folder that is never empty is never deleted.
 */
export const KEEP_KEY = `${INCOMPLETE_PREFIX}/multihost-keep`;

export interface Bucket {
  /** Every key, page after page. */
  keys(): Promise<string[]>;
  put(key: string, body: string): Promise<void>;
}

export function openBucket(s3: Endpoint & { bucket: string }): Bucket {
  const withClient = async <T>(use: (client: S3Client) => Promise<T>): Promise<T> => {
    const client = new S3Client({
      endpoint: s3.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestHandler: { httpAgent: agentTo(s3.sock, { keepAlive: true }) },
    });
    try {
      return await use(client);
    } finally {
      client.destroy();
    }
  };
  return {
    keys: () => withClient(async (client) => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, ContinuationToken: token }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
        token = page.NextContinuationToken;
      } while (token);
      return keys;
    }),
    put: (key, body) => withClient(async (client) => void (await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body })))),
  };
}
