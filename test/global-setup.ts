// Once per `vitest run`: find PostgreSQL and Redis, give the run its own migrated database and
// queue prefix, and remove both afterwards.
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { createDatabase, migrateToLatest } from '@cheershare/shared';
import { createTestDatabase, deleteRedisPrefix, dropTestDatabase, resolveTestServices } from '@cheershare/shared/testing';

export default async function setup(project: TestProject) {
  const services = await resolveTestServices(process.env);
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dbName = `cheershare_test_${runId}`;
  const databaseUrl = await createTestDatabase(services.postgresUrl, dbName);
  const db = createDatabase({ url: databaseUrl, poolMax: 1 });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  const queuePrefix = `cstest-${runId}`;
  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('queuePrefix', queuePrefix);
  process.stdout.write(`test services: PostgreSQL from ${services.source.postgres}, Redis from ${services.source.redis}; database ${dbName}\n`);

  return async () => {
    await dropTestDatabase(services.postgresUrl, dbName);
    await deleteRedisPrefix(services.redisUrl, queuePrefix);
    await services.stop();
  };
}
