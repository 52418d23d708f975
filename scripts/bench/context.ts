import { fileURLToPath } from 'node:url';
import type { Children } from './children.ts';
import { runLoad, type LoadKind, type LoadResult, type LoadTool } from './load.ts';
import type { OpenLoopRequest, OpenLoopSpec } from './open-loop.ts';
import type { Options } from './options.ts';
import type { Sink } from './sink-client.ts';

/** What every scenario is given: the options, the processes, the sink, and a scratch folder. */
export interface BenchContext {
  opts: Options;
  tool: LoadTool;
  children: Children;
  sink: Sink;
  /** Files for the load drivers (codes, tokens) and the upload baseline's disk. */
  workDir: string;
  /** The mailer's settings for the run, which the nodemailer baseline copies. */
  mailer: MailerSettings;
  say(line: string): void;
}

export interface MailerSettings {
  /** Jobs in flight (MAILER_CONCURRENCY). */
  concurrency: number;
  /** Pooled SMTP connections (SMTP_MAX_CONNECTIONS). */
  smtpConnections: number;
  /** The variables that set them, when the command line did. */
  env: Record<string, string>;
}

type LoadShape = LoadKind & { url: string };

/** A fixed-duration load after the configured warm-up of the same load (its figures dropped). */
export async function timedLoad(ctx: BenchContext, name: string, shape: LoadShape, warmupShape: LoadShape = shape): Promise<LoadResult> {
  const base = { connections: ctx.opts.connections, threads: ctx.opts.threads, timeoutSeconds: 10 };
  if (ctx.opts.warmup > 0) await runLoad(ctx.children, ctx.tool, `${name} (warm-up)`, { ...warmupShape, ...base, seconds: ctx.opts.warmup });
  return runLoad(ctx.children, ctx.tool, name, { ...shape, ...base, seconds: ctx.opts.duration });
}

/** Exactly `count` requests, as fast as `connections` allow. */
export function countedLoad(ctx: BenchContext, name: string, shape: LoadShape, count: number, connections = ctx.opts.connections, timeoutSeconds = 10): Promise<LoadResult> {
  return runLoad(ctx.children, ctx.tool, name, { ...shape, connections, threads: 1, timeoutSeconds, count });
}

const OPEN_LOOP = fileURLToPath(new URL('./open-loop.ts', import.meta.url));

/** Runs the open-loop driver in its own process and returns every request it sent. */
export async function openLoop(ctx: BenchContext, name: string, spec: OpenLoopSpec): Promise<OpenLoopRequest[]> {
  const child = ctx.children.node(name, OPEN_LOOP, [JSON.stringify(spec)], {});
  const code = await child.exited;
  const line = child.lines.find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`${name} exited with ${code}:\n${child.tail()}`);
  return (JSON.parse(line) as { requests: OpenLoopRequest[] }).requests;
}
