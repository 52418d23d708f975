// `npm run bench`: the services' hot paths against baselines measured in the same run, in
// interleaved rounds (baselines, then each queue backend, then again), every figure reported as a
// ratio to those baselines. `-- --quick` is the test suite's smoke run. See docs/benchmarks.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadMailerConfig } from '@cheershare/shared';
import { resolveTestServices, type TestServices } from '../packages/shared/src/testing/services.ts';
import { measureBaselines, startBaselineServers } from './bench/baselines.ts';
import { BUDGET_BACKENDS, BUDGETS, SANITY } from './bench/budgets.ts';
import { makeChildren } from './bench/children.ts';
import type { BenchContext, MailerSettings } from './bench/context.ts';
import { wrkAvailable, type LoadTool } from './bench/load.ts';
import { describeMachine } from './bench/machine.ts';
import { parseOptions, USAGE, type Backend, type Options } from './bench/options.ts';
import { renderReport } from './bench/report.ts';
import { backendRound } from './bench/scenarios/round.ts';
import { startSink } from './bench/sink-client.ts';
import { makeSecrets, prepareBackend, type BackendStack } from './bench/stack.ts';
import { summarize, type BackendRound, type BaselineRound } from './bench/summary.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);
// A reader that went away (`| head`) must not end the run before it has cleaned up.
process.stdout.on('error', () => {});
const startedAt = new Date();
const progress = (line: string) => say(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}`);

let opts: Options;
try {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === 'help') {
    say(USAGE);
    process.exit(0);
  }
  opts = parsed;
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}

// On the way out, whatever happened: every child first (services drain and let go of their
// connections), then what was set up, in reverse: databases and queues, then the servers.
const children = makeChildren();
const cleanups: (() => unknown)[] = [];
let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= (async () => {
  for (const step of [() => children.stopAll(), ...cleanups.reverse()]) {
    await Promise.resolve().then(step).catch((err: unknown) => say(`cleanup: ${(err as Error).message}`));
  }
})());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    say(`\n${signal}: stopping every process the bench started, dropping its databases...`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** The configured servers if any (DATABASE_URL's server, REDIS_URL), else what the tests would use. */
function serviceEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  if (!env.TEST_DATABASE_URL && env.DATABASE_URL) {
    const url = new URL(env.DATABASE_URL);
    url.pathname = '/postgres';
    env.TEST_DATABASE_URL = url.toString();
  }
  env.TEST_REDIS_URL ??= env.REDIS_URL;
  if (opts.backend === 'postgres') env.TEST_QUEUE_BACKEND = 'postgres';
  return env;
}

function chooseBackends(services: TestServices): Backend[] {
  if (opts.backend === 'redis' && !services.redisUrl) throw new Error('--backend redis: no Redis answers (set REDIS_URL or TEST_REDIS_URL, or start one on 127.0.0.1:6379)');
  if (opts.backend !== 'both') return [opts.backend];
  return services.redisUrl ? ['redis', 'postgres'] : ['postgres'];
}

/** The mailer's job concurrency and SMTP pool size for the run, as it will read them. */
function mailerSettings(): MailerSettings {
  const env: Record<string, string> = {};
  if (opts.mailerConcurrency !== undefined) env.MAILER_CONCURRENCY = String(opts.mailerConcurrency);
  if (opts.smtpConnections !== undefined) env.SMTP_MAX_CONNECTIONS = String(opts.smtpConnections);
  const config = loadMailerConfig(env);
  return { concurrency: config.concurrency, smtpConnections: config.smtp.maxConnections, env };
}

function chooseTool(): LoadTool {
  const hasWrk = wrkAvailable();
  if (opts.load === 'wrk' && !hasWrk) throw new Error('--load wrk: wrk is not installed (apt-get install wrk)');
  return opts.load ?? (hasWrk ? 'wrk' : 'autocannon');
}

const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const baselineRounds: BaselineRound[] = [];
const backendRounds: Partial<Record<Backend, BackendRound[]>> = {};
let failure: string | undefined;
let machine: Awaited<ReturnType<typeof describeMachine>> | undefined;
let sources: TestServices['source'] | undefined;
let tool: LoadTool | undefined;
let mailer: MailerSettings | undefined;

try {
  tool = chooseTool();
  mailer = mailerSettings();
  const services = await resolveTestServices(serviceEnv());
  cleanups.push(() => services.stop());
  sources = services.source;
  const backends = chooseBackends(services);
  machine = await describeMachine({ postgresUrl: services.postgresUrl, redisUrl: services.redisUrl, tool });
  say(`bench ${runId}: ${opts.quick ? 'quick' : 'full'} run, ${opts.rounds} round(s), backends ${backends.join(' and ')}, load by ${tool}`);
  say(`  PostgreSQL from ${services.source.postgres}; ${machine.cpus} × ${machine.cpuModel}; node ${machine.node}`);
  if (machine.loadAverageAtStart > machine.cpus) say(`  note: load average ${machine.loadAverageAtStart} on ${machine.cpus} CPUs: something else is running, expect noisy figures`);
  say(`  mailer: ${mailer.concurrency} jobs in flight, ${mailer.smtpConnections} SMTP connections (the nodemailer baseline uses the same)`);

  const workDir = mkdtempSync(join(tmpdir(), 'cheershare-bench-'));
  cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
  const sink = await startSink(children);
  const ctx: BenchContext = { opts, tool, children, sink, workDir, mailer, say: progress };
  const servers = await startBaselineServers(ctx);
  const secrets = makeSecrets();
  const stacks: BackendStack[] = [];
  for (const backend of backends) {
    const stack = await prepareBackend(children, {
      backend, postgresUrl: services.postgresUrl, redisUrl: services.redisUrl, runId, smtpUrl: sink.url, secrets,
      // A 10 MB upload plus headroom: the limit is raised for the run through its variable.
      uploadMaxBytes: Math.ceil(opts.uploadMb * 2 ** 20) + 2 ** 20, mailerEnv: ctx.mailer.env,
    });
    cleanups.push(() => stack.drop());
    stacks.push(stack);
    backendRounds[backend] = [];
  }

  for (let round = 1; round <= opts.rounds; round++) {
    progress(`round ${round}/${opts.rounds}: baselines`);
    const last = round === opts.rounds;
    baselineRounds.push(await measureBaselines(ctx, servers, `${runId}r${round}`, last));
    for (const stack of stacks) backendRounds[stack.backend]!.push(await backendRound(ctx, stack, `${runId}r${round}${stack.backend[0]}`, last));
  }
} catch (err) {
  // fetch and friends put the useful part in `cause`.
  const chain: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) chain.push(e.stack ?? e.message);
  failure = chain.join('\ncaused by: ') || String(err);
} finally {
  await cleanup();
}

const summary = summarize(baselineRounds, backendRounds);
if (baselineRounds.length) say(`\n${renderReport(summary, opts)}`);
const finishedAt = new Date();
const results = {
  machine,
  command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
  options: { ...opts, load: tool },
  services: sources,
  startedAt: startedAt.toISOString(),
  finishedAt: finishedAt.toISOString(),
  durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
  loadAverageAtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  mailer: mailer && { concurrency: mailer.concurrency, smtpConnections: mailer.smtpConnections },
  ...summary,
  budgets: { enforcedOn: BUDGET_BACKENDS, perScenario: BUDGETS, sanity: SANITY },
  error: failure,
};
const jsonPath = resolve(opts.json);
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify(results, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
say(`\nresults: ${jsonPath} (${results.durationSeconds.toFixed(0)} s)`);

if (failure) {
  say(`\nthe bench failed: ${failure}`);
  process.exit(1);
}
if (summary.broken.length) {
  say('\nbroken scenarios (see above): the figures of this run do not mean anything');
  process.exit(1);
}
if (!opts.quick && summary.budgetFailures.length) {
  say(`\nbudgets missed on the Redis backend:\n${summary.budgetFailures.map((f) => `  ${f}`).join('\n')}`);
  process.exit(1);
}
process.exit(0);
