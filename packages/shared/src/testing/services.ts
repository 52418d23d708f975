import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { startEmbeddedPostgres } from '../embedded/postgres.ts';

/** Where a test run's PostgreSQL server and queue store come from, and how to let them go. */
export interface TestServices {
  /** A URL of the server's maintenance database; the run creates its own database beside it. */
  postgresUrl: string;
  /** Set when the queues run on Redis; undefined means BullMQ's PostgreSQL backend. */
  redisUrl: string | undefined;
  source: { postgres: string; queues: string };
  stop(): Promise<void>;
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
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

/** True when a Docker engine answers within a second; Testcontainers itself can take long to give up. */
async function dockerAnswers(env: Record<string, string | undefined>): Promise<boolean> {
  const host = env.DOCKER_HOST;
  let attempts: ({ host: string; port: number } | { path: string })[];
  if (host?.startsWith('tcp://')) {
    const u = new URL(host.replace('tcp://', 'http://'));
    attempts = [{ host: u.hostname, port: Number(u.port || 2375) }];
  } else {
    const paths = [host?.startsWith('unix://') ? host.slice('unix://'.length) : undefined, '/var/run/docker.sock', join(homedir(), '.docker/run/docker.sock'), join(homedir(), '.colima/default/docker.sock')];
    attempts = paths.filter((p): p is string => !!p).map((path) => ({ path }));
  }
  for (const where of attempts) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(where);
      socket.setTimeout(1_000);
      socket.once('connect', () => socket.write('GET /_ping HTTP/1.0\r\n\r\n'));
      socket.once('data', (d) => (socket.destroy(), resolve(d.toString().includes(' 200 '))));
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => (socket.destroy(), resolve(false)));
    });
    if (ok) return true;
  }
  return false;
}

/**
 * Resolves the servers integration tests use, in order: TEST_DATABASE_URL / TEST_REDIS_URL; the
 * local servers on their default ports if they answer; Testcontainers when a Docker engine
 * answers; otherwise an embedded PostgreSQL (npm package, no setup) with the queues on BullMQ's
 * PostgreSQL backend. TEST_QUEUE_BACKEND=postgres keeps the queues off Redis even when one answers;
 * TEST_SERVICES=embedded skips straight to the last step.
 */
export async function resolveTestServices(env: Record<string, string | undefined>): Promise<TestServices> {
  const stops: (() => Promise<unknown>)[] = [];
  const source = { postgres: '', queues: '' };
  const embeddedOnly = env.TEST_SERVICES === 'embedded';
  const wantRedis = env.TEST_QUEUE_BACKEND !== 'postgres' && !embeddedOnly;
  let postgresUrl = embeddedOnly ? undefined : env.TEST_DATABASE_URL;
  let redisUrl = wantRedis ? env.TEST_REDIS_URL : undefined;
  if (postgresUrl) source.postgres = 'TEST_DATABASE_URL';
  if (redisUrl) source.queues = 'Redis from TEST_REDIS_URL';

  if (!embeddedOnly) {
    const localPostgres = 'postgres://postgres@127.0.0.1:5432/postgres';
    const localRedis = 'redis://127.0.0.1:6379';
    const [pgLocal, redisLocal] = await Promise.all([
      postgresUrl ? false : postgresAnswers(localPostgres),
      redisUrl || !wantRedis ? false : redisAnswers(localRedis),
    ]);
    if (pgLocal) [postgresUrl, source.postgres] = [localPostgres, 'local server'];
    if (redisLocal) [redisUrl, source.queues] = [localRedis, 'Redis, local server'];
  }

  if ((!postgresUrl || (wantRedis && !redisUrl)) && !embeddedOnly && (await dockerAnswers(env))) {
    try {
      if (!postgresUrl) {
        const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
        const container = await new PostgreSqlContainer('postgres:18-alpine').start();
        stops.push(() => container.stop());
        [postgresUrl, source.postgres] = [container.getConnectionUri(), 'Testcontainers'];
      }
      if (wantRedis && !redisUrl) {
        const { RedisContainer } = await import('@testcontainers/redis');
        const container = await new RedisContainer('redis:7-alpine').start();
        stops.push(() => container.stop());
        [redisUrl, source.queues] = [container.getConnectionUrl(), 'Redis from Testcontainers'];
      }
    } catch (err) {
      process.stderr.write(`Testcontainers could not start containers (${(err as Error).message}); going on without them.\n`);
    }
  }

  if (!postgresUrl) {
    const base = mkdtempSync(join(tmpdir(), 'cheershare-test-pg-'));
    // As root the server runs as the "postgres" system user, which must reach the folder.
    chmodSync(base, 0o755);
    const server = await startEmbeddedPostgres({ dataDir: join(base, 'data'), password: randomBytes(12).toString('hex'), persistent: false, drainMs: 5_000, maxConnections: 400 });
    stops.push(async () => {
      await server.stop();
      rmSync(base, { recursive: true, force: true });
    });
    [postgresUrl, source.postgres] = [server.url('postgres'), `embedded PostgreSQL ${server.version}`];
  }
  if (!redisUrl) source.queues = 'PostgreSQL (BullMQ PostgreSQL backend)';
  return {
    postgresUrl,
    redisUrl,
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
