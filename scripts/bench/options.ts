import { parseArgs } from 'node:util';
import type { LoadTool } from './load.ts';

export const SCENARIOS = ['code-request', 'verify', 'me', 'e2e', 'drain', 'upload', 'sigterm'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export type Backend = 'redis' | 'postgres';

export interface Options {
  quick: boolean;
  rounds: number;
  /** Seconds of each measured load run, after `warmup` seconds of the same load. */
  duration: number;
  warmup: number;
  connections: number;
  threads: number;
  backend: Backend | 'both';
  /** undefined: wrk when installed, else autocannon. */
  load: LoadTool | undefined;
  only: Scenario[];
  json: string;
  e2eRate: number;
  e2eSeconds: number;
  /**
   * Codes queued then drained per round; they also feed verify and /v1/me's tokens. 2,000 a round
   * (6,000 over a full run) rather than the 5,000, which took a full run past 10 minutes
   * on two cores; `--drain 5000` gives the figure.
   */
  drain: number;
  uploads: number;
  uploadMb: number;
  sigtermJobs: number;
  /** How long the sink holds each DATA answer during the SIGTERM scenario. */
  slowSmtpMs: number;
  /** MAILER_CONCURRENCY and SMTP_MAX_CONNECTIONS for the run; undefined: the mailer's defaults. */
  mailerConcurrency: number | undefined;
  smtpConnections: number | undefined;
}

export const USAGE = `npm run bench -- [options]

  --quick                  about a second per scenario, small counts (the test suite runs this)
  --backend <b>            redis | postgres | both (default: both, or whichever is available)
  --only <a,b,...>         scenarios: ${SCENARIOS.join(', ')}
  --load <tool>            wrk | autocannon (default: wrk when installed)
  --rounds <n>             interleaved rounds, medians across them (default 3; quick 1)
  --duration <s>           seconds per load run (default 5; quick 1)
  --warmup <s>             seconds of warm-up before each load run (default 1; quick 0)
  --connections <n>        connections per load run (default 50)
  --threads <n>            wrk threads (default 1)
  --e2e-rate <n>           end-to-end arrival rate, requests/s (default 200)
  --e2e-seconds <s>        end-to-end duration (default 20; quick 1)
  --drain <n>              codes queued then drained per round (default 2000; quick 200)
  --uploads <n>            concurrent uploads (default 20; quick 4)
  --upload-mb <n>          size of each upload in MiB (default 10)
  --sigterm-jobs <n>       email jobs in flight at SIGTERM (default 100; quick 50)
  --slow-smtp-ms <n>       sink delay per message in the SIGTERM scenario (default 75)
  --mailer-concurrency <n> MAILER_CONCURRENCY, jobs in flight (default: the mailer's default)
  --smtp-connections <n>   SMTP_MAX_CONNECTIONS, pooled SMTP connections (default: the mailer's)
  --json <path>            results file (default bench-results/latest.json)
`;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${value})`);
  return n;
}

/** Parses the command line; throws with a message naming the bad flag. */
export function parseOptions(argv: string[]): Options | 'help' {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      'quick': { type: 'boolean', default: false },
      'help': { type: 'boolean', default: false },
      'backend': { type: 'string', default: 'both' },
      'only': { type: 'string' },
      'load': { type: 'string' },
      'json': { type: 'string', default: 'bench-results/latest.json' },
      'rounds': { type: 'string' },
      'duration': { type: 'string' },
      'warmup': { type: 'string' },
      'connections': { type: 'string' },
      'threads': { type: 'string' },
      'e2e-rate': { type: 'string' },
      'e2e-seconds': { type: 'string' },
      'drain': { type: 'string' },
      'uploads': { type: 'string' },
      'upload-mb': { type: 'string' },
      'sigterm-jobs': { type: 'string' },
      'slow-smtp-ms': { type: 'string' },
      'mailer-concurrency': { type: 'string' },
      'smtp-connections': { type: 'string' },
    },
  });
  if (v.help) return 'help';
  const quick = v.quick;
  if (!['redis', 'postgres', 'both'].includes(v.backend)) throw new Error(`--backend must be redis, postgres or both (got ${v.backend})`);
  if (v.load !== undefined && v.load !== 'wrk' && v.load !== 'autocannon') throw new Error(`--load must be wrk or autocannon (got ${v.load})`);
  const only = v.only ? v.only.split(',').map((s) => s.trim()).filter(Boolean) : [...SCENARIOS];
  const unknown = only.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`--only: unknown scenario ${unknown.join(', ')} (known: ${SCENARIOS.join(', ')})`);
  const warmup = v.warmup === '0' ? 0 : positive('warmup', v.warmup, quick ? 0 : 1);
  return {
    quick,
    rounds: Math.round(positive('rounds', v.rounds, quick ? 1 : 3)),
    duration: Math.round(positive('duration', v.duration, quick ? 1 : 5)),
    warmup: Math.round(warmup),
    connections: Math.round(positive('connections', v.connections, 50)),
    threads: Math.round(positive('threads', v.threads, 1)),
    backend: v.backend as Options['backend'],
    load: v.load,
    only: only as Scenario[],
    json: v.json,
    e2eRate: positive('e2e-rate', v['e2e-rate'], 200),
    e2eSeconds: positive('e2e-seconds', v['e2e-seconds'], quick ? 1 : 20),
    drain: Math.round(positive('drain', v.drain, quick ? 200 : 2000)),
    uploads: Math.round(positive('uploads', v.uploads, quick ? 4 : 20)),
    uploadMb: positive('upload-mb', v['upload-mb'], 10),
    sigtermJobs: Math.round(positive('sigterm-jobs', v['sigterm-jobs'], quick ? 50 : 100)),
    slowSmtpMs: Math.round(positive('slow-smtp-ms', v['slow-smtp-ms'], 75)),
    mailerConcurrency: v['mailer-concurrency'] === undefined ? undefined : Math.round(positive('mailer-concurrency', v['mailer-concurrency'], 1)),
    smtpConnections: v['smtp-connections'] === undefined ? undefined : Math.round(positive('smtp-connections', v['smtp-connections'], 1)),
  };
}
