import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
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

/** Environment for a service under test: this run's database, Redis, a fresh queue prefix. */
export function testEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: inject('databaseUrl'),
    REDIS_URL: inject('redisUrl'),
    QUEUE_PREFIX: uniqueQueuePrefix(),
    ...extra,
  };
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
  const db = createDatabase({ url, poolMax: 1 });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  return { url, drop: () => dropTestDatabase(admin.toString(), name) };
}
