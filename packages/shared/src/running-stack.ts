import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProcessAlive } from './processes.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Where `npm start` keeps its state: the embedded database, its lock, and what it is running. */
export function stateDirOf(env: Record<string, string | undefined>): string {
  return env.CHEERSHARE_STATE_DIR ?? join(REPO_ROOT, '.cheershare');
}

/** The file in which a running `npm start` records the connection of its embedded database. */
export const STACK_FILE = 'stack.json';

/**
 * `env`, plus the DATABASE_URL of the embedded database when `npm start` is running it from this
 * checkout and `env` names no database: so `npm run task` and `npm run migrate` reach the same
 * database as the stack, not a default one. Returns which stack it joined, if any.
 */
export function withRunningStack(env: Record<string, string | undefined>): { env: Record<string, string | undefined>; joined?: number } {
  if (env.DATABASE_URL) return { env };
  const file = join(stateDirOf(env), STACK_FILE);
  if (!existsSync(file)) return { env };
  try {
    const stack = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; DATABASE_URL: string };
    if (!isProcessAlive(stack.pid)) return { env };
    return { env: { ...env, DATABASE_URL: stack.DATABASE_URL }, joined: stack.pid };
  } catch {
    return { env };
  }
}
