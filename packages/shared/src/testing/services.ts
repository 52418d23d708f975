import pg from 'pg';
import { Redis } from 'ioredis';

/** Where a test run's PostgreSQL server and Redis come from, and how to let them go. */
export interface TestServices {
  /** A URL of the server's maintenance database; the run creates its own database beside it. */
  postgresUrl: string;
  redisUrl: string;
  source: { postgres: string; redis: string };
  stop(): Promise<void>;
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

const HOW_TO = `Provide them in one of these ways:
  - set TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) and TEST_REDIS_URL (e.g. redis://127.0.0.1:6379);
  - run PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and Redis on 127.0.0.1:6379;
  - or make a Docker engine reachable, so Testcontainers can start them.`;

/**
 * Resolves the servers integration tests use, in order: TEST_DATABASE_URL / TEST_REDIS_URL;
 * the local servers on their default ports if they answer; Testcontainers when a Docker engine
 * is reachable; otherwise an error that says how to provide them.
 */
export async function resolveTestServices(env: Record<string, string | undefined>): Promise<TestServices> {
  const stops: (() => Promise<unknown>)[] = [];
  const source = { postgres: '', redis: '' };
  let postgresUrl = env.TEST_DATABASE_URL;
  let redisUrl = env.TEST_REDIS_URL;
  if (postgresUrl) source.postgres = 'TEST_DATABASE_URL';
  if (redisUrl) source.redis = 'TEST_REDIS_URL';

  const localPostgres = 'postgres://postgres@127.0.0.1:5432/postgres';
  if (!postgresUrl && (await postgresAnswers(localPostgres))) [postgresUrl, source.postgres] = [localPostgres, 'local server'];
  const localRedis = 'redis://127.0.0.1:6379';
  if (!redisUrl && (await redisAnswers(localRedis))) [redisUrl, source.redis] = [localRedis, 'local server'];

  if (!postgresUrl || !redisUrl) {
    try {
      if (!postgresUrl) {
        const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
        const container = await new PostgreSqlContainer('postgres:16-alpine').start();
        stops.push(() => container.stop());
        [postgresUrl, source.postgres] = [container.getConnectionUri(), 'Testcontainers'];
      }
      if (!redisUrl) {
        const { RedisContainer } = await import('@testcontainers/redis');
        const container = await new RedisContainer('redis:7-alpine').start();
        stops.push(() => container.stop());
        [redisUrl, source.redis] = [container.getConnectionUrl(), 'Testcontainers'];
      }
    } catch (err) {
      await Promise.allSettled(stops.map((s) => s()));
      const missing = [!postgresUrl && 'PostgreSQL', !redisUrl && 'Redis'].filter(Boolean).join(' and ');
      throw new Error(`Integration tests need ${missing}, and Testcontainers could not start them (${(err as Error).message}).\n${HOW_TO}`);
    }
  }
  return {
    postgresUrl: postgresUrl,
    redisUrl: redisUrl,
    source,
    stop: async () => void (await Promise.allSettled(stops.map((s) => s()))),
  };
}

/** Creates a fresh database beside `postgresUrl` and returns its URL. */
export async function createTestDatabase(postgresUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropTestDatabase(postgresUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await client.end();
  }
}

/** Deletes every Redis key under a queue prefix (BullMQ keys are `prefix:queue:…`). */
export async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
