import { runMigrations } from 'bullmq';
import pg from 'pg';
import type { QueueName } from './jobs.ts';
import type { QueueSettings } from './backend.ts';
import { connectRedis, masters, namespacePattern, queueKeyPrefix } from './redis.ts';

// Administration of the queue store, for `npm run migrate` and tests: both backends' layouts are
// known here and in backend.ts only.

/** The table the PostgreSQL backend's rate limiters share (rate-limiter-flexible's layout). */
export const RATE_LIMIT_TABLE = 'rate_limits';

/**
 * Prepares the queue store (`npm run migrate`, and tests for their own namespaces): on PostgreSQL
 * creates or upgrades BullMQ's schema and the rate-limit table (idempotent, safe to run
 * concurrently); Redis needs nothing.
 */
export async function prepareQueueStore(settings: QueueSettings): Promise<'created' | 'current' | 'nothing to do'> {
  if (settings.kind === 'redis') return 'nothing to do';
  const client = new pg.Client({ connectionString: settings.url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const before = await client.query(`select 1 from information_schema.tables where table_schema = $1 and table_name = 'migration'`, [settings.schema]);
    await runMigrations(client, settings.schema);
    // Serialised: two migrators creating the same table at once would collide in pg_type.
    await client.query('begin');
    try {
      await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [`cheershare:rate-limits:${settings.schema}`]);
      await client.query(`create table if not exists "${settings.schema}".${RATE_LIMIT_TABLE} (key varchar(255) primary key, points integer not null default 0, expire bigint)`);
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      throw err;
    }
    return before.rowCount ? 'current' : 'created';
  } finally {
    await client.end();
  }
}

/**
 * Deletes a whole queue namespace: every Redis key under the prefix, or the PostgreSQL schemas
 * whose name starts with the schema's (test runs give each test its own namespace below one root).
 */
export async function dropQueueNamespaces(settings: QueueSettings): Promise<void> {
  if (settings.kind === 'redis') {
    const redis = connectRedis(settings.topology, 'commands');
    try {
      // A cluster's keys are spread over its masters: each is scanned; each key is deleted on its
      // own, since one DEL of keys from different slots would be refused (CROSSSLOT).
      for (const node of await masters(redis)) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', namespacePattern(settings.topology, settings.prefix), 'COUNT', 500);
          cursor = next;
          await Promise.all(keys.map((key) => redis.del(key)));
        } while (cursor !== '0');
      }
    } finally {
      redis.disconnect();
    }
    return;
  }
  const client = new pg.Client({ connectionString: settings.url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`select nspname as name from pg_namespace where starts_with(nspname, $1)`, [settings.schema]);
    for (const { name } of rows) await client.query(`drop schema "${name.replaceAll('"', '""')}" cascade`);
  } finally {
    await client.end();
  }
}

/**
 * Everything the queue store holds about one job, as text: lets a test prove a secret never
 * reaches the store in clear, whichever backend it is.
 */
export async function readStoredJob(settings: QueueSettings, queue: QueueName, jobId: string): Promise<string | undefined> {
  if (settings.kind === 'redis') {
    const redis = connectRedis(settings.topology, 'commands');
    try {
      const hash = await redis.hgetall(`${queueKeyPrefix(settings.topology, settings.prefix)}:${queue}:${jobId}`);
      return Object.keys(hash).length ? JSON.stringify(hash) : undefined;
    } finally {
      redis.disconnect();
    }
  }
  const client = new pg.Client({ connectionString: settings.url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ row: string }>(`select row_to_json(j)::text as row from "${settings.schema}".job j where queue = $1 and id = $2`, [queue, jobId]);
    return rows[0]?.row;
  } finally {
    await client.end();
  }
}
