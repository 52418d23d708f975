// One queue backend's world for the run: its own fresh database (migrated like `npm run migrate`),
// its own queue prefix (and on PostgreSQL its schema, prepared the same way), its own upload
// folder, and the environment both services start with. Services run as their real entry points,
// NODE_ENV=production with secrets made for this run; limits are raised only through variables.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createDatabase, createQueueClient, dropQueueNamespaces, migrateToLatest, prepareQueueStore, queueSchemaOf,
  QUEUES, type QueueSettings,
} from '@cheershare/shared';
import { createTestDatabase, dropTestDatabase } from '../../packages/shared/src/testing/services.ts';
import type { Child, Children } from './children.ts';
import type { Backend } from './options.ts';

const API_ENTRY = fileURLToPath(new URL('../../services/api/src/main.ts', import.meta.url));
const MAILER_ENTRY = fileURLToPath(new URL('../../services/mailer-worker/src/main.ts', import.meta.url));

/**
 * Abuse limits are meant for strangers, not for one client driving load on purpose from one
 * address: the run raises them through the variables an operator would use (a variable a service
 * does not know is ignored). Per-mailbox limits need no raising: every request uses a new address.
 */
const RAISED_LIMITS = {
  // 0 turns the per-address connection cap off: every load driver connects from 127.0.0.1.
  MAX_CONNECTIONS_PER_CLIENT: '0',
  OTP_REQUESTS_PER_CLIENT: '1000000',
  VERIFY_REQUESTS_PER_CLIENT: '1000000',
  REFRESH_REQUESTS_PER_CLIENT: '1000000',
  EMAILS_PER_MINUTE: '1000000',
};

export interface Secrets {
  JWT_PRIVATE_KEY: string;
  OTP_HASH_SECRET: string;
  JOB_ENCRYPTION_KEY: string;
  SECRET_ENCRYPTION_KEY: string;
}

/** Fresh production secrets for this run: the services refuse the published development ones. */
export function makeSecrets(): Secrets {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  return { JWT_PRIVATE_KEY: privateKey, OTP_HASH_SECRET: randomBytes(32).toString('base64url'), JOB_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    SECRET_ENCRYPTION_KEY: randomBytes(32).toString('base64url') };
}

export interface BackendStack {
  backend: Backend;
  queue: QueueSettings;
  env: Record<string, string>;
  uploadDir: string;
  startApi(): Promise<{ child: Child; base: string }>;
  startMailer(): Promise<Child>;
  /** Removes the waiting and delayed jobs of a queue (nothing consumes creatives here, and the code-request scenario's emails would pile up). */
  emptyQueue(name: 'email' | 'creatives'): Promise<void>;
  /** Jobs of the email queue still to run (waiting, active, delayed), and how many of them are active. */
  pendingEmails(): Promise<{ pending: number; active: number }>;
  /** Deletes uploaded files (nothing processes them here). */
  clearUploads(): void;
  /** Drops the database and queue namespace and the upload folder. */
  drop(): Promise<void>;
}

export interface StackOptions {
  backend: Backend;
  /** A URL of the server's maintenance database (resolveTestServices). */
  postgresUrl: string;
  redisUrl: string | undefined;
  runId: string;
  smtpUrl: string;
  secrets: Secrets;
  uploadMaxBytes: number;
  /** MAILER_CONCURRENCY and SMTP_MAX_CONNECTIONS when the command line sets them. */
  mailerEnv: Record<string, string>;
}

export async function prepareBackend(children: Children, o: StackOptions): Promise<BackendStack> {
  const dbName = `cheershare_bench_${o.runId}_${o.backend}`;
  const databaseUrl = await createTestDatabase(o.postgresUrl, dbName);
  const drops: (() => Promise<unknown>)[] = [() => dropTestDatabase(o.postgresUrl, dbName)];
  const uploadDir = mkdtempSync(join(tmpdir(), `cheershare-bench-${o.backend}-`));
  drops.push(() => Promise.resolve(rmSync(uploadDir, { recursive: true, force: true })));
  const drop = async () => void (await Promise.allSettled(drops.reverse().map((d) => d())));
  try {
    const db = createDatabase({ url: databaseUrl, poolMax: 1, timeouts: { statementMs: 0, queryMs: 0 } });
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    const prefix = `csbench-${o.runId}-${o.backend}`;
    const queue: QueueSettings = o.backend === 'redis'
      ? { kind: 'redis', topology: { mode: 'standalone', url: o.redisUrl ?? '' }, prefix }
      : { kind: 'postgres', url: databaseUrl, schema: queueSchemaOf(prefix) };
    await prepareQueueStore(queue);
    if (queue.kind === 'redis') drops.push(() => dropQueueNamespaces(queue));
    const admin = createQueueClient(queue);
    const producers = { email: admin.producer(QUEUES.email, {}), creatives: admin.producer(QUEUES.creatives, {}) };
    drops.push(() => admin.close());

    const env: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: databaseUrl,
      QUEUE_BACKEND: o.backend,
      ...(o.backend === 'redis' && { REDIS_URL: o.redisUrl ?? '' }),
      QUEUE_PREFIX: prefix,
      HOST: '127.0.0.1',
      PORT: '0',
      METRICS_PORT: '0',
      SMTP_URL: o.smtpUrl,
      MAIL_FROM: 'cheershare bench <no-reply@bench.example.test>',
      ...o.mailerEnv,
      UPLOAD_DIR: uploadDir,
      UPLOAD_MAX_BYTES: String(o.uploadMaxBytes),
      ...RAISED_LIMITS,
      APP_TIMEZONE: 'UTC',
      ...o.secrets,
    };
    return {
      backend: o.backend, queue, env, uploadDir, drop,
      async startApi() {
        const child = children.node(`api (${o.backend})`, API_ENTRY, [], env);
        const { port } = await child.ready<{ port: number }>();
        return { child, base: `http://127.0.0.1:${port}` };
      },
      async startMailer() {
        const child = children.node(`mailer-worker (${o.backend})`, MAILER_ENTRY, [], env);
        await child.ready();
        return child;
      },
      emptyQueue: (name) => producers[name].queue.drain(true),
      async pendingEmails() {
        const counts = await producers.email.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
        return { pending: Object.values(counts).reduce((a, b) => a + b, 0), active: counts.active ?? 0 };
      },
      clearUploads: () => rmSync(join(uploadDir, 'uploads'), { recursive: true, force: true }),
    };
  } catch (err) {
    await drop();
    throw err;
  }
}
