// The shared bucket as the test sees it, through the client namespace's relay.
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { agentTo, type Endpoint } from './client.ts';

export interface Bucket {
  /** Every key, page after page. */
  keys(): Promise<string[]>;
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
  };
}
