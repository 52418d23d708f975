// Once per `vitest run`: find PostgreSQL and the queue store (Redis, or BullMQ's PostgreSQL
// backend), give the run its own migrated database and queue prefix, and remove both afterwards.
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { createDatabase, dropQueueNamespaces, migrateToLatest, queueSchemaOf } from '@cheershare/shared';
import { createTestDatabase, dropTestDatabase, resolveTestServices } from '@cheershare/shared/testing';

export default async function setup(project: TestProject) {
  const services = await resolveTestServices(process.env);
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dbName = `cheershare_test_${runId}`;
  const databaseUrl = await createTestDatabase(services.postgresUrl, dbName);
  const db = createDatabase({ url: databaseUrl, poolMax: 1, timeouts: { statementMs: 0, queryMs: 0 } });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  const queuePrefix = `cstest-${runId}`;
  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', services.redisUrl ?? '');
  project.provide('queuePrefix', queuePrefix);
  process.stdout.write(`test services: PostgreSQL from ${services.source.postgres}; queues on ${services.source.queues}; database ${dbName}\n`);

  return async () => {
    // On PostgreSQL the queues live in the run's database, which goes with it.
    if (services.redisUrl) await dropQueueNamespaces({ kind: 'redis', topology: { mode: 'standalone', url: services.redisUrl }, prefix: queuePrefix });
    else await dropQueueNamespaces({ kind: 'postgres', url: databaseUrl, schema: queueSchemaOf(queuePrefix) });
    await dropTestDatabase(services.postgresUrl, dbName);
    await services.stop();
  };
}
