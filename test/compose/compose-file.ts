// Reads docker-compose.yml the way `docker compose` does: YAML with anchors and merge keys, then
// ${VAR} interpolation (with :- and - defaults, :? and ? required), $$ for a literal dollar.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const COMPOSE_FILE = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));

export class MissingVariableError extends Error {
  override name = 'MissingVariableError';
}

const TOKEN = /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

export function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(TOKEN, (whole, dollar: string, braced?: string, op?: string, arg?: string, bare?: string) => {
    if (dollar === '$') return '$';
    const name = (braced ?? bare)!;
    const value = env[name];
    const unset = value === undefined;
    const empty = unset || value === '';
    switch (op) {
      case ':-': return empty ? arg! : value;
      case '-': return unset ? arg! : value;
      case ':?': if (empty) throw new MissingVariableError(`${name}: ${arg}`); return value;
      case '?': if (unset) throw new MissingVariableError(`${name}: ${arg}`); return value;
      default: return value ?? '';
    }
  });
}

function walk(value: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((v) => walk(v, env));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, env)]));
  return value;
}

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  init?: boolean;
  restart?: string;
  stop_grace_period?: string;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** The file as YAML gives it (anchors and merge keys resolved), before interpolation. */
export function readComposeRaw(): unknown {
  return parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true });
}

/** The file as compose would run it with `env` (throws MissingVariableError for a required one). */
export function readCompose(env: Record<string, string | undefined>): ComposeFile {
  return walk(readComposeRaw(), env) as ComposeFile;
}

/** Seconds in a compose duration such as "30s", "1m30s". */
export function durationSeconds(d: string): number {
  let total = 0;
  for (const [, n, unit] of d.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)) {
    total += Number(n) * { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 }[unit as 'h' | 'm' | 's' | 'ms' | 'us'];
  }
  return total;
}
