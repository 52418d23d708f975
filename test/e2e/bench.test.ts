import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { testQueueBackend } from '@cheershare/shared/testing';
import { SCENARIOS } from '../../scripts/bench/options.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cheershare-bench-test-'));

/** `npm run bench -- <args>` on the servers this test run already uses; resolves with the exit code and the JSON. */
async function bench(name: string, args: string[]): Promise<{ code: number | null; output: string; results: any }> {
  const json = join(dir, `${name}.json`);
  const redisUrl = inject('redisUrl');
  const child = spawn('npm', ['run', '--silent', 'bench', '--', ...args, '--json', json], {
    cwd: ROOT,
    env: {
      ...process.env,
      TEST_DATABASE_URL: inject('databaseUrl'),
      ...(redisUrl ? { TEST_REDIS_URL: redisUrl } : { TEST_QUEUE_BACKEND: 'postgres' }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output, results: JSON.parse(readFileSync(json, 'utf8')) };
}

function expectSane(scenario: any, name: string) {
  expect(scenario, name).toBeDefined();
  expect(scenario.problems, name).toEqual([]);
  for (const [key, ratio] of Object.entries<any>(scenario.ratios)) {
    expect(Number.isFinite(ratio.median) && ratio.median > 0, `${name} ${key} = ${ratio.median}`).toBe(true);
  }
}

describe('npm run bench', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--quick measures every scenario on each available queue backend, with sane figures', async () => {
    const { code, output, results } = await bench('quick', ['--quick']);
    expect(code, output).toBe(0);
    const backends = inject('redisUrl') ? ['postgres', 'redis'] : ['postgres'];
    expect(Object.keys(results.backends).sort()).toEqual(backends);
    expect(results.machine.node).toBe(process.version);
    for (const backend of backends) {
      const scenarios = results.backends[backend];
      for (const name of SCENARIOS) expectSane(scenarios[name], `${backend} ${name}`);
      for (const name of ['code-request', 'verify', 'me']) {
        expect(scenarios[name].median.requests, `${backend} ${name}`).toBeGreaterThan(0);
        expect(scenarios[name].median.failed, `${backend} ${name}`).toBe(0);
      }
      expect(scenarios.verify.median.codes).toBeGreaterThan(0);
      expect(scenarios.e2e.median).toMatchObject({ lost: 0, duplicated: 0, mailerExitCode: 0 });
      expect(scenarios.e2e.median.requests).toBeGreaterThan(0);
      expect(scenarios.drain.median).toMatchObject({ lost: 0, duplicated: 0, mailerExitCode: 0 });
      expect(scenarios.drain.median.messagesPerSecond).toBeGreaterThan(0);
      expect(scenarios.upload.median).toMatchObject({ failed: 0 });
      expect(scenarios.upload.median.rssGrowthMib).toBeGreaterThanOrEqual(0);
      expect(scenarios.sigterm.median).toMatchObject({ exitCode: 0, lost: 0, duplicated: 0, secondMailerExitCode: 0 });
      expect(scenarios.sigterm.median.deliveredAfterRestart).toBeGreaterThan(0);
    }
    expect(results.broken).toEqual([]);
  }, 150_000);

  it('drives the load with autocannon when asked (the fallback where wrk is missing)', async () => {
    const backend = testQueueBackend();
    const { code, output, results } = await bench('autocannon', ['--quick', '--load', 'autocannon', '--backend', backend, '--only', 'me,verify']);
    expect(code, output).toBe(0);
    expect(results.options.load).toBe('autocannon');
    expect(Object.keys(results.backends[backend])).toEqual(['verify', 'me']);
    for (const name of ['verify', 'me']) {
      expectSane(results.backends[backend][name], name);
      expect(results.backends[backend][name].median.failed, name).toBe(0);
    }
  }, 150_000);
});
