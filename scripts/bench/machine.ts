import { spawnSync } from 'node:child_process';
import { arch, cpus, loadavg, release, totalmem, type } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { LoadTool } from './load.ts';

/** What the figures were measured on, for the JSON and the docs. */
export async function describeMachine(opts: { postgresUrl: string; redisUrl: string | undefined; tool: LoadTool }) {
  const cpu = cpus();
  const wrk = opts.tool === 'wrk' ? (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '').trim() : undefined;
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cpus: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()} ${arch()}`,
    node: process.version,
    postgres: await postgresVersion(opts.postgresUrl),
    redis: opts.redisUrl ? await redisVersion(opts.redisUrl) : undefined,
    load: opts.tool === 'wrk' ? wrk : `autocannon (node ${process.version})`,
    /** 1-minute load average when the run began: above the CPU count, other work shared the machine. */
    loadAverageAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return (await client.query<{ server_version: string }>('show server_version')).rows[0]?.server_version ?? 'unknown';
  } catch {
    return 'unknown';
  } finally {
    await client.end().catch(() => {});
  }
}

async function redisVersion(url: string): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  } finally {
    redis.disconnect();
  }
}
