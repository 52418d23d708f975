// Drives HTTP load from a separate process: Debian's wrk with the Lua scripts in lua/, or
// autocannon (autocannon-driver.ts) where wrk is missing or asked for. Both print the same
// one-line result, so every scenario reads the same figures whichever ran.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Children } from './children.ts';

export type LoadTool = 'wrk' | 'autocannon';

/** What to send: each kind is one Lua script and one branch of the autocannon driver. */
export type LoadKind =
  | { kind: 'get'; tokensFile?: string }
  | { kind: 'post-unique'; prefix: string }
  | { kind: 'post-lines'; linesFile: string }
  | { kind: 'upload'; bytes: number; date: string; token?: string };

export type LoadSpec = LoadKind & {
  url: string;
  connections: number;
  threads: number;
  timeoutSeconds: number;
} & ({ seconds: number; count?: undefined } | { count: number; seconds?: undefined });

export interface LoadResult {
  /** Responses received. */
  requests: number;
  /** Timed: the run's length; count mode: first request to last response. */
  durationMs: number;
  rps: number;
  /** Count mode: requests asked for, and how they were answered (2xx is ok). */
  count: number;
  answered: number;
  ok: number;
  bad: number;
  statuses: Record<string, number>;
  /** `status` counts responses >= 400, as wrk does. */
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

const LUA = {
  'get': 'get.lua',
  'post-unique': 'post-unique.lua',
  'post-lines': 'post-lines.lua',
  'upload': 'upload.lua',
} as const;
const RESULT_PREFIX = 'bench-result ';
/** wrk's -d in count mode: the harness interrupts it once the last response is in. */
const COUNT_MODE_LIMIT_S = 300;
const AUTOCANNON_DRIVER = fileURLToPath(new URL('./autocannon-driver.ts', import.meta.url));

export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error === undefined;
}

function parseResult(name: string, lines: string[], tail: string): LoadResult {
  const line = lines.find((l) => l.startsWith(RESULT_PREFIX));
  if (!line) throw new Error(`${name} printed no result:\n${tail}`);
  const raw = JSON.parse(line.slice(RESULT_PREFIX.length)) as Omit<LoadResult, 'rps'>;
  return { ...raw, rps: raw.durationMs > 0 ? (raw.requests * 1000) / raw.durationMs : 0 };
}

function luaArgs(spec: LoadSpec): string[] {
  const args = [`count=${spec.count ?? 0}`];
  if (spec.kind === 'get' && spec.tokensFile) args.push(`tokens=${spec.tokensFile}`);
  if (spec.kind === 'post-unique') args.push(`prefix=${spec.prefix}`);
  if (spec.kind === 'post-lines') args.push(`lines=${spec.linesFile}`);
  if (spec.kind === 'upload') args.push(`bytes=${spec.bytes}`, `date=${spec.date}`, ...(spec.token ? [`token=${spec.token}`] : []));
  return args;
}

async function runWrk(children: Children, name: string, spec: LoadSpec): Promise<LoadResult> {
  const counted = spec.count !== undefined;
  const connections = counted ? Math.min(spec.connections, spec.count) : spec.connections;
  // Count mode keeps its bookkeeping in one Lua state, so one thread.
  const threads = counted ? 1 : Math.min(spec.threads, connections);
  const script = fileURLToPath(new URL(`./lua/${LUA[spec.kind]}`, import.meta.url));
  const child = children.run(name, 'wrk', [
    '-t', String(threads), '-c', String(connections), '-d', `${counted ? COUNT_MODE_LIMIT_S : spec.seconds}s`,
    '--timeout', `${spec.timeoutSeconds}s`, '-s', script, spec.url, '--', ...luaArgs(spec),
  ]);
  let interrupt: NodeJS.Timeout | undefined;
  child.onLine((line) => {
    if (line !== 'wrk-bench: finished' || interrupt) return;
    // SIGINT ends wrk's sleep; repeated in case it came before wrk installed its handler.
    const send = () => child.proc.kill('SIGINT');
    send();
    interrupt = setInterval(send, 500);
  });
  const code = await child.exited.finally(() => clearInterval(interrupt));
  if (code !== 0) throw new Error(`${name} exited with ${code}:\n${child.tail()}`);
  return parseResult(name, child.lines, child.tail());
}

async function runAutocannon(children: Children, name: string, spec: LoadSpec): Promise<LoadResult> {
  const child = children.node(name, AUTOCANNON_DRIVER, [JSON.stringify(spec)], {});
  const code = await child.exited;
  if (code !== 0) throw new Error(`${name} exited with ${code}:\n${child.tail()}`);
  return parseResult(name, child.lines, child.tail());
}

/** Runs one load with `tool` and returns its figures. */
export function runLoad(children: Children, tool: LoadTool, name: string, spec: LoadSpec): Promise<LoadResult> {
  return tool === 'wrk' ? runWrk(children, `wrk ${name}`, spec) : runAutocannon(children, `autocannon ${name}`, spec);
}
