import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startService, type ServiceProcess, type StartServiceOptions } from './processes.ts';

const ENTRY = fileURLToPath(new URL('./s3rver-main.ts', import.meta.url));

/** A real S3-protocol server (s3rver) of a test's own, which the test can stop and start again. */
export interface S3Server {
  /** http://<host>:<port>: the same across restarts. */
  endpoint: string;
  port: number;
  bucket: string;
  /** s3rver's fixed key pair. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /**
   * Environment for a service storing here: STORAGE=s3, the bucket, endpoint and path style, and
   * the key pair in the variables the AWS SDK's default chain reads.
   */
  env: Record<string, string>;
  /** Where s3rver keeps buckets, objects and multipart uploads. */
  dir: string;
  readonly running: boolean;
  /** An outage: 'kill' is SIGKILL, 'term' SIGTERM. Open connections drop; objects are kept. */
  stop(how?: 'kill' | 'term'): Promise<void>;
  /** Serves again on the same port, with the same objects. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

export interface S3ServerOptions {
  bucket?: string;
  /** Address to listen on and to advertise (default 127.0.0.1), and a fixed port (default: any free one). */
  host?: string;
  port?: number;
  /** How the process runs (e.g. inside a network namespace). */
  process?: StartServiceOptions;
  /** s3rver as published, without the multipart extension: ListMultipartUploads answers 501. */
  withoutMultipartListing?: boolean;
}

/**
 * Starts s3rver (npm) as a child process with a temporary directory and one bucket, and resolves
 * once it listens. Clients use path-style addressing (S3_FORCE_PATH_STYLE=true). s3rver lacks
 * ListMultipartUploads and AbortMultipartUpload; a small extension (s3rver-multipart.ts) adds them.
 */
export async function startS3Server(opts: S3ServerOptions = {}): Promise<S3Server> {
  const bucket = opts.bucket ?? 'cheershare-test';
  const host = opts.host ?? '127.0.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'cheershare-s3-'));
  // Port 0 the first time; the port it got is kept for restarts.
  let port = opts.port ?? 0;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  let proc: ServiceProcess | undefined;

  const launch = async () => {
    const started = startService(ENTRY, {
      NODE_OPTIONS: '--openssl-legacy-provider', S3RVER_ADDRESS: host, S3RVER_PORT: String(port), S3RVER_DIR: dir, S3RVER_BUCKET: bucket,
      ...(opts.withoutMultipartListing && { S3RVER_PLAIN: '1' }),
    }, opts.process);
    try {
      port = Number((await started.waitForLog((l) => l.msg === 's3rver listening')).port);
    } catch (err) {
      await started.stop('SIGKILL');
      throw err;
    }
    proc = started;
  };
  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const s3: S3Server = {
    endpoint, port, bucket, credentials, dir,
    env: {
      STORAGE: 's3', S3_BUCKET: bucket, S3_ENDPOINT: endpoint, S3_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    get running() {
      return proc !== undefined;
    },
    async stop(how = 'kill') {
      const running = proc;
      proc = undefined;
      await running?.stop(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
    },
    async start() {
      if (!proc) await launch();
    },
    async close() {
      await s3.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s3;
}
