import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { queueSchemaOf } from '../queues/backend.ts';
import { prepareQueueStore } from '../queues/store.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    /** '' when the queues run on BullMQ's PostgreSQL backend. */
    redisUrl: string;
    queuePrefix: string;
  }
}

/** A queue prefix of this run's own, so parallel files never share queues. */
export function uniqueQueuePrefix(): string {
  return `${inject('queuePrefix')}-${randomBytes(4).toString('hex')}`;
}

/** A fresh email address, so tests never see each other's challenges or users. */
export function uniqueEmail(label = 'user'): string {
  return `${label}-${randomBytes(6).toString('hex')}@example.test`;
}

/** The queue backend of this run: what `npm test` found (see resolveTestServices). */
export function testQueueBackend(): 'redis' | 'postgres' {
  return inject('redisUrl') ? 'redis' : 'postgres';
}

/**
 * Environment for a service under test: this run's database and queue store, with a fresh queue
 * namespace that is ready to use (on PostgreSQL its schema is created, as `npm run migrate` does).
 */
export async function testEnv(extra: Record<string, string> = {}, opts: { prepareQueues?: boolean } = {}): Promise<Record<string, string>> {
  const redisUrl = inject('redisUrl');
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: inject('databaseUrl'),
    ...(redisUrl ? { QUEUE_BACKEND: 'redis', REDIS_URL: redisUrl } : { QUEUE_BACKEND: 'postgres' }),
    QUEUE_PREFIX: uniqueQueuePrefix(),
    METRICS_PORT: '0',
    ...extra,
  };
  // Tests that point the queues at a server that is down skip the preparation.
  if (env.QUEUE_BACKEND === 'postgres' && opts.prepareQueues !== false) {
    await prepareQueueStore({ kind: 'postgres', url: env.QUEUE_DATABASE_URL ?? env.DATABASE_URL!, schema: queueSchemaOf(env.QUEUE_PREFIX!) });
  }
  return env;
}

/**
 * A migrated database of the caller's own, for tests whose work is global (cleanup deletes
 * across all rows) and must not race other files sharing the run's database.
 */
export async function ownDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const { createTestDatabase, dropTestDatabase } = await import('./services.ts');
  const { createDatabase } = await import('../db/database.ts');
  const { migrateToLatest } = await import('../db/migrate.ts');
  const admin = new URL(inject('databaseUrl'));
  const name = `${admin.pathname.slice(1)}_${randomBytes(4).toString('hex')}`;
  admin.pathname = '/postgres';
  const url = await createTestDatabase(admin.toString(), name);
  const db = createDatabase({ url, poolMax: 1, timeouts: { statementMs: 0, queryMs: 0 } });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  return { url, drop: () => dropTestDatabase(admin.toString(), name) };
}
