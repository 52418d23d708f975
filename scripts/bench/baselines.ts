// The yardsticks, measured in every round beside the services so that both see the same machine:
// a bare node:http server and a minimal Express 5 app (GET /hello, JSON POST /echo), the Express
// app at the end-to-end arrival rate, a plain nodemailer pooled loop into the same sink, and a
// bare node:http server streaming the same uploads to disk. Each server runs in its own process.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Child } from './children.ts';
import { openLoop, timedLoad, type BenchContext } from './context.ts';
import type { Scenario } from './options.ts';
import { measureUploads } from './scenarios/upload.ts';
import { httpFigures, percentile, type Figures } from './stats.ts';

export const BASELINES = {
  httpGet: 'node:http GET /hello',
  expressGet: 'Express GET /hello',
  httpPost: 'node:http POST /echo',
  expressPost: 'Express POST /echo',
  expressOpenLoop: 'Express POST /echo, open loop',
  nodemailer: 'nodemailer pooled loop',
  httpUpload: 'node:http upload to disk',
} as const;
export type BaselineKey = keyof typeof BASELINES;

/** Which baselines each scenario is compared with. */
export const BASELINES_OF: Record<Scenario, BaselineKey[]> = {
  'code-request': ['httpPost', 'expressPost'],
  'verify': ['httpPost', 'expressPost'],
  'me': ['httpGet', 'expressGet'],
  'e2e': ['expressOpenLoop'],
  'drain': ['nodemailer'],
  'upload': ['httpUpload'],
  'sigterm': [],
};

const SERVER = fileURLToPath(new URL('./baseline-server.ts', import.meta.url));
const NODEMAILER_LOOP = fileURLToPath(new URL('./nodemailer-loop.ts', import.meta.url));

export interface BaselineServers {
  http: { child: Child; base: string };
  express: { child: Child; base: string };
}

async function startServer(ctx: BenchContext, kind: string, args: string[] = []): Promise<{ child: Child; base: string }> {
  const child = ctx.children.node(`baseline ${kind}`, SERVER, [kind, ...args], { NODE_ENV: 'production' });
  const { port } = await child.ready<{ port: number }>();
  return { child, base: `http://127.0.0.1:${port}` };
}

/** The request baselines, kept for the whole run (their figures do not depend on their history). */
export async function startBaselineServers(ctx: BenchContext): Promise<BaselineServers> {
  const [http, express] = await Promise.all([startServer(ctx, 'http'), startServer(ctx, 'express')]);
  return { http, express };
}

/**
 * The upload baseline in a process new to this round, as the API is: memory a process kept from
 * an earlier round's uploads would make its growth look like nothing.
 */
async function uploadBaseline(ctx: BenchContext): Promise<Figures> {
  const uploadDir = join(ctx.workDir, 'baseline-uploads');
  mkdirSync(uploadDir, { recursive: true });
  const server = await startServer(ctx, 'upload', [uploadDir]);
  try {
    return await measureUploads(ctx, BASELINES.httpUpload, server.child.pid, `${server.base}/upload`);
  } finally {
    await server.child.stop();
  }
}

/** The nodemailer loop sending `count` messages; messages/s from the sink's receive times, as for the mailer. */
async function nodemailerLoop(ctx: BenchContext, tag: string): Promise<Figures> {
  const prefix = `nodemailer-${tag}`;
  const from = (await ctx.sink.stats()).count;
  const { smtpConnections, concurrency } = ctx.mailer;
  const child = ctx.children.node('nodemailer loop', NODEMAILER_LOOP, [ctx.sink.url, String(ctx.opts.drain), String(smtpConnections), String(concurrency), prefix], {});
  const code = await child.exited;
  if (code !== 0) throw new Error(`nodemailer loop exited with ${code}:\n${child.tail()}`);
  const records = await ctx.sink.collect(from, (to) => to.startsWith(prefix), ctx.opts.drain, 10_000);
  return { ...deliveryRate(records.map((r) => r.at)), count: ctx.opts.drain, received: new Set(records.map((r) => r.to)).size };
}

/** Messages per second between the first and the last arrival. */
export function deliveryRate(times: number[]): { messagesPerSecond: number } {
  if (times.length < 2) return { messagesPerSecond: Number.NaN };
  const first = Math.min(...times);
  const last = Math.max(...times);
  return { messagesPerSecond: ((times.length - 1) * 1000) / (last - first) };
}

/** One round of the baselines that the selected scenarios need (the end-to-end one beside it, in the last round). */
export async function measureBaselines(ctx: BenchContext, servers: BaselineServers, tag: string, lastRound: boolean): Promise<Partial<Record<BaselineKey, Figures>>> {
  const needed = new Set(ctx.opts.only.filter((s) => s !== 'e2e' || lastRound).flatMap((s) => BASELINES_OF[s]));
  const out: Partial<Record<BaselineKey, Figures>> = {};
  const get = (base: string) => ({ kind: 'get' as const, url: `${base}/hello` });
  const post = (base: string, name: string) => ({ kind: 'post-unique' as const, url: `${base}/echo`, prefix: `${name}-${tag}` });
  const step = (key: BaselineKey): boolean => {
    if (!needed.has(key)) return false;
    ctx.say(`  baseline: ${BASELINES[key]}`);
    return true;
  };
  if (step('httpGet')) out.httpGet = httpFigures(await timedLoad(ctx, BASELINES.httpGet, get(servers.http.base)));
  if (step('expressGet')) out.expressGet = httpFigures(await timedLoad(ctx, BASELINES.expressGet, get(servers.express.base)));
  if (step('httpPost')) out.httpPost = httpFigures(await timedLoad(ctx, BASELINES.httpPost, post(servers.http.base, 'http')));
  if (step('expressPost')) out.expressPost = httpFigures(await timedLoad(ctx, BASELINES.expressPost, post(servers.express.base, 'express')));
  if (step('expressOpenLoop')) {
    const requests = await openLoop(ctx, BASELINES.expressOpenLoop, {
      url: `${servers.express.base}/echo`, rate: ctx.opts.e2eRate, seconds: ctx.opts.duration, warmupSeconds: ctx.opts.warmup, prefix: `open-${tag}`,
    });
    const measured = requests.filter((r) => !r.warmup);
    const latencies = measured.map((r) => r.latencyMs).sort((a, b) => a - b);
    out.expressOpenLoop = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? Number.NaN, requests: measured.length, failed: measured.filter((r) => r.status !== 200).length };
  }
  if (step('nodemailer')) out.nodemailer = await nodemailerLoop(ctx, tag);
  if (step('httpUpload')) out.httpUpload = await uploadBaseline(ctx);
  return out;
}
