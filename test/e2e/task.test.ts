import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './stack.ts';

const TASK = fileURLToPath(new URL('../../scripts/task.ts', import.meta.url));

describe('npm run task: an operator runs a recurring job now', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({}, { scheduler: true });
  });
  afterAll(async () => {
    await stack.stop();
  });

  const task = (...args: string[]) => spawnSync(process.execPath, [TASK, ...args], { env: { PATH: process.env.PATH, ...stack.env }, encoding: 'utf8', timeout: 60_000 });

  it('runs the daily digest for a given day through the scheduler and prints its outcome', () => {
    const run = task('daily-digest', '2001-01-01');
    expect(run.stdout).toMatch(/^queued daily-digest as job manual-daily-digest-\d+ on /);
    expect(run.stdout).toMatch(/done: \{"day":"2001-01-01","owners":0\}/);
    expect(run.status).toBe(0);
  });

  it('refuses what it does not know, with the usage line', () => {
    for (const args of [[], ['reindex'], ['daily-digest', '2001-02-30'], ['cleanup', '2001-01-01']]) {
      const run = task(...args);
      expect(run.status).toBe(64);
      expect(run.stderr).toMatch(/^usage: npm run task -- daily-digest/);
    }
  });
});
