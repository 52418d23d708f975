import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '@cheershare/shared';
import { startService, testEnv } from '@cheershare/shared/testing';
import { API_ENTRY } from './stack.ts';

// A Redis of the test's own, with the settings under test. Needs the redis-server program (CI has
// it); on a machine without it this block is reported as skipped, never as passed.
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

async function withRedis(args: string[], body: (url: string) => Promise<void>) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cheershare-redis-'));
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...args], { stdio: 'ignore' });
  try {
    await expect.poll(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim(), { timeout: 10_000 }).toBe('PONG');
    await body(`redis://127.0.0.1:${port}`);
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startupWarnings(redisUrl: string): Promise<string[]> {
  const api = startService(API_ENTRY, await testEnv({ QUEUE_BACKEND: 'redis', REDIS_URL: redisUrl, LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0' }));
  try {
    // Warnings, if any, are logged before this line.
    await api.waitForLog((l) => l.msg === 'api listening');
    expect(await api.stop('SIGTERM')).toBe(0);
    return api.logs.filter((l) => l.level === 40 && String(l.msg).startsWith('QUEUE STORE CAN LOSE JOBS')).map((l) => String(l.msg));
  } finally {
    await api.stop('SIGKILL');
  }
}

describe.runIf(hasRedisServer)('a loud warning when the queue server could lose jobs', () => {
  it('warns at start about a Redis that evicts keys and keeps nothing on disk', async () => {
    await withRedis(['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'], async (url) => {
      const warnings = await startupWarnings(url);
      expect(warnings).toHaveLength(2);
      expect(warnings.join('\n')).toMatch(/allkeys-lru[\s\S]*lost if Redis restarts/);
    });
  });

  it('says nothing about a Redis with AOF on and noeviction', async () => {
    await withRedis(['--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'], async (url) => {
      expect(await startupWarnings(url)).toEqual([]);
    });
  });
});
