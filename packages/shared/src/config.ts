import { createPublicKey, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { canonicalTimeZone, isValidTimeZone } from './time.ts';
import { DEV_JWT_PRIVATE_KEY, DEV_JOB_ENCRYPTION_KEY, DEV_OTP_HASH_SECRET, DEV_SECRET_ENCRYPTION_KEY } from './dev-secrets.ts';
import { isLoopbackHost } from './loopback.ts';
import type { StorageSettings } from './storage/create-storage.ts';
import { queueSchemaOf, type QueueSettings, type RedisNode } from './queues/backend.ts';

/** Thrown when the environment does not describe a runnable process. The message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const int = (min: number, max: number) => z.coerce.number({ error: `must be a whole number from ${min} to ${max}` })
  .int(`must be a whole number from ${min} to ${max}`).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const secret = z.string().min(32, 'must be at least 32 characters');
const pem = z.string().transform((s) => s.replace(/\\n/g, '\n')).pipe(z.string().includes('PRIVATE KEY', { error: 'must be a PEM private key' }));
// Comma-separated keys that open and never seal: retired ones, or the next one during a rotation.
const oldSecrets = z.string().transform((s) => s.split(',').map((k) => k.trim()).filter(Boolean)).pipe(z.array(secret));
// PEM blocks one after another (blank lines or nothing between them; "\n" escapes accepted),
// public or private EC P-256 keys. Only the public halves are kept, as SPKI PEM.
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const verifyKeys = z.string().transform((s, ctx) => {
  const text = s.replace(/\\n/g, '\n');
  const blocks = text.match(PEM_BLOCK) ?? [];
  const refuse = (message: string) => {
    ctx.issues.push({ code: 'custom', message, input: s });
    return z.NEVER;
  };
  if (blocks.length === 0 || text.replace(PEM_BLOCK, '').trim() !== '') return refuse('must be PEM keys (-----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----), one after another');
  const keys: string[] = [];
  for (const [i, block] of blocks.entries()) {
    let key: KeyObject;
    try {
      key = createPublicKey(block);
    } catch {
      return refuse(`key ${i + 1} of ${blocks.length} is not a readable PEM public or private key`);
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return refuse(`key ${i + 1} of ${blocks.length} is not an EC P-256 key (ES256)`);
    keys.push(key.export({ type: 'spki', format: 'pem' }).toString());
  }
  return keys;
});

// Redis addresses: host:port, comma-separated; an IPv6 host in brackets ([::1]:26379).
const hostPorts = z.string().transform((s, ctx) => {
  const nodes: RedisNode[] = [];
  const items = s.split(',').map((x) => x.trim()).filter(Boolean);
  for (const [i, item] of items.entries()) {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(item);
    const port = Number(m?.[2]);
    if (!m?.[1] || port < 1 || port > 65535) {
      // The item is not echoed: a URL written here by mistake may carry a password.
      ctx.issues.push({ code: 'custom', message: `must be host:port pairs separated by commas (item ${i + 1} of ${items.length} is not one)`, input: s });
      return z.NEVER;
    }
    nodes.push({ host: m[1].replace(/^\[(.*)\]$/, '$1'), port });
  }
  if (nodes.length === 0) ctx.issues.push({ code: 'custom', message: 'must name at least one host:port', input: s });
  return nodes;
});

const common = {
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/cheershare'),
  DATABASE_POOL_MAX: int(1, 100).default(10),
  // pgbouncer: DATABASE_URL reaches PostgreSQL through PgBouncer (or another pooler) in transaction
  // mode, so no session state is relied on (DatabasePooler in db/database.ts).
  DATABASE_POOLER: z.enum(['none', 'pgbouncer']).default('none'),
  // Queues: Redis when REDIS_URL is set (or QUEUE_BACKEND=redis), otherwise BullMQ's PostgreSQL
  // backend in QUEUE_DATABASE_URL (default: DATABASE_URL's database).
  QUEUE_BACKEND: z.enum(['redis', 'postgres']).optional(),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  // Or a master found through Sentinel, or a Redis Cluster (exactly one of the three); their data
  // nodes' credentials come apart from the addresses.
  REDIS_SENTINELS: hostPorts.optional(),
  REDIS_SENTINEL_MASTER: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be the master group name Sentinel monitors').optional(),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  REDIS_CLUSTER_NODES: hostPorts.optional(),
  REDIS_USERNAME: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  QUEUE_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,56}$/, 'must be 1 to 56 letters, digits, _ or - (on a Redis Cluster the {hash tag} is added for you)').default('cheershare'),
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(20_000),
  // The operator port (/healthz, /readyz, /metrics): loopback unless a deployment opens it.
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  OTP_TTL_SECONDS: int(1, 3600).default(600),
  JOB_ENCRYPTION_KEY: secret.optional(),
  JOB_ENCRYPTION_OLD_KEYS: oldSecrets.optional(),
  EMAIL_ATTEMPTS: int(1, 50).default(10),
  EMAIL_BACKOFF_MS: int(10, 600_000).default(2_000),
};

// A relative UPLOAD_DIR means the same folder whichever directory a service was started from,
// so the api and the scheduler always share it.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const uploadDir = z.string().min(1).transform((dir) => resolve(REPO_ROOT, dir));

const timeZone = z.string().refine(isValidTimeZone, 'must be an IANA time zone such as Europe/Paris or UTC').transform(canonicalTimeZone);
const storage = {
  // Files: a local directory (one host, or one shared mount), or an S3 bucket every host reaches.
  STORAGE: z.enum(['local', 's3']).default('local'),
  // prefault, not default: zod 4 returns a default as output as is, skipping the transform.
  UPLOAD_DIR: uploadDir.prefault('storage'),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/, 'must be a bucket name: 3 to 63 lowercase letters, digits, dots or hyphens').optional(),
  S3_PREFIX: z.string().regex(/^\/*[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*\/*$/, 'must be key segments of letters, digits, dots, _ or -, separated by /').optional(),
  // Another S3 server than AWS (MinIO, Garage, Ceph RGW, R2 …). Credentials come from the AWS
  // SDK's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance roles), never here.
  S3_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  S3_REGION: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a region name such as us-east-1').optional(),
  AWS_REGION: z.string().optional(),
  S3_FORCE_PATH_STYLE: z.stringbool().default(false),
  // Each call's deadline (for uploads: each 5 MiB part's); past it the API answers 503.
  S3_TIMEOUT_MS: int(100, 600_000).default(5_000),
  APP_TIMEZONE: timeZone.default('UTC'),
};

const apiSchema = z.object({
  ...common,
  METRICS_PORT: int(0, 65535).default(9100),
  // Loopback unless a deployment opens it: the development secrets must never face a network.
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  // Express's "trust proxy": false, a hop count (1 behind one proxy), or addresses/CIDRs of the
  // proxies. true trusts any X-Forwarded-For, which lets clients choose their own address.
  TRUST_PROXY: z.string().regex(/^(true|false|\d{1,2}|(loopback|linklocal|uniquelocal|[0-9a-fA-F.:/]+)(\s*,\s*(loopback|linklocal|uniquelocal|[0-9a-fA-F.:/]+))*)$/, 'must be false, a hop count such as 1, or proxy addresses/CIDRs')
    .default('false')
    .transform((v): boolean | number | string => (v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v)),
  // Slow clients: how long a request body may take to arrive (uploads get the long one), and how
  // many connections one client address may hold open (0: no cap).
  BODY_TIMEOUT_MS: int(100, 600_000).default(10_000),
  UPLOAD_TIMEOUT_MS: int(100, 3_600_000).default(300_000),
  MAX_CONNECTIONS_PER_CLIENT: int(0, 100_000).default(64),
  // After SIGTERM the API keeps serving this long while /readyz answers 503, so load balancers stop
  // sending before it stops accepting. Unset: 5000 with NODE_ENV=production, otherwise 0.
  SHUTDOWN_DELAY_MS: int(0, 600_000).optional(),
  OTP_MAX_ATTEMPTS: int(1, 20).default(5),
  OTP_RESEND_SECONDS: int(0, 3600).default(30),
  // Per mailbox and client (the resend delay too): a stranger's requests do not spend the owner's.
  OTP_MAX_PER_HOUR: int(1, 1000).default(5),
  // Per mailbox, whoever asks: mail bombing from many addresses stops here.
  OTP_MAX_PER_MAILBOX_HOUR: int(1, 10_000).default(30),
  // Wrong guesses per mailbox per day after which its codes are 10 digits instead of 6.
  OTP_LONG_CODES_AFTER_FAILURES: int(1, 1000).default(10),
  // Per client address (IPv6 by /64), per CLIENT_LIMIT_WINDOW_SECONDS, shared by every replica.
  CLIENT_LIMIT_WINDOW_SECONDS: int(1, 86_400).default(600),
  OTP_REQUESTS_PER_CLIENT: int(1, 1_000_000).default(10),
  VERIFY_REQUESTS_PER_CLIENT: int(1, 1_000_000).default(30),
  REFRESH_REQUESTS_PER_CLIENT: int(1, 1_000_000).default(60),
  // Second-factor codes (sign-in's second step, confirming and turning off the authenticator app).
  MFA_REQUESTS_PER_CLIENT: int(1, 1_000_000).default(30),
  // Sign-in emails per minute across every client and replica: the bill and the sender's reputation.
  EMAILS_PER_MINUTE: int(1, 1_000_000).default(300),
  OTP_HASH_SECRET: secret.optional(),
  JWT_PRIVATE_KEY: pem.optional(),
  // Published and accepted, never signing: a key about to sign, or one retired until its tokens expire.
  JWT_VERIFY_KEYS: verifyKeys.optional(),
  // Seals secrets kept in the database (a TOTP secret); the old keys still open what they sealed.
  SECRET_ENCRYPTION_KEY: secret.optional(),
  SECRET_ENCRYPTION_OLD_KEYS: oldSecrets.optional(),
  JWT_ISSUER: z.string().min(1).default('cheershare'),
  JWT_AUDIENCE: z.string().min(1).default('cheershare-api'),
  ACCESS_TOKEN_TTL_SECONDS: int(60, 86_400).default(900),
  REFRESH_TOKEN_TTL_SECONDS: int(300, 365 * 86_400).default(30 * 86_400),
  // A rotated refresh token presented again this soon answers with the same new pair (two tabs
  // refreshing at once); later, reuse revokes the session. 0: no grace, any reuse revokes.
  REFRESH_REUSE_GRACE_SECONDS: int(0, 300).default(10),
  ...storage,
  UPLOAD_MAX_BYTES: int(1, 1024 * 1024 * 1024).default(10 * 1024 * 1024),
  SCHEDULE_HORIZON_DAYS: int(0, 3650).default(365),
  // Bull Board at /admin/queues: off unless both are set.
  ADMIN_USER: z.string().regex(/^[^:\s]{1,64}$/, 'must be 1 to 64 characters, no colon or space').optional(),
  ADMIN_PASSWORD: z.string().min(1).max(256).optional(),
  ADMIN_READ_ONLY: z.stringbool().default(false),
  // Authenticator-app MFA: the name apps show next to the account, how long the second step of a
  // sign-in may take, and how many codes one second step takes.
  MFA_ISSUER: z.string().trim().min(1).max(64).refine((s) => !/[:\p{Cc}]/u.test(s), 'must be one line without a colon').default('cheershare'),
  MFA_TOKEN_TTL_SECONDS: int(30, 3600).default(300),
  MFA_MAX_ATTEMPTS: int(1, 20).default(5),
  // Wrong second-factor codes per account and hour, whatever the mfa_token or address: past it the
  // second step is refused for the hour (someone who reads the mailbox cannot keep guessing).
  MFA_MAX_FAILURES_PER_HOUR: int(1, 1000).default(10),
  // Turning MFA on needs a sign-in at most this old, so a stolen access token cannot bind its own app.
  MFA_ENROL_MAX_SIGN_IN_AGE_SECONDS: int(60, 86_400).default(600),
});

// The workers' queue locks: a job whose worker died is handed out again within lock + stalled
// interval (25 s at these defaults). The lock is renewed every half lock by the worker's event loop,
// which image decoding (on libvips threads) and SMTP do not block, so long jobs keep theirs.
const worker = {
  QUEUE_LOCK_MS: int(1_000, 600_000).default(15_000),
  QUEUE_STALLED_INTERVAL_MS: int(500, 600_000).default(10_000),
};

const mailerSchema = z.object({
  ...common,
  ...worker,
  // A claimed delivery's lease, renewed while SMTP runs: how long a delivery left by a killed
  // mailer blocks another run before it counts as an uncertain send.
  DELIVERY_LEASE_MS: int(1_000, 600_000).default(20_000),
  METRICS_PORT: int(0, 65535).default(9101),
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).default('smtp://127.0.0.1:1025'),
  MAIL_FROM: z.string().min(3).refine((s) => !/[\r\n]/.test(s), 'must be a single line').default('cheershare <no-reply@cheershare.localhost>'),
  MAILER_CONCURRENCY: int(1, 200).default(20),
  SMTP_MAX_CONNECTIONS: int(1, 100).default(5),
  SMTP_TIMEOUT_MS: int(100, 300_000).default(30_000),
});

// Five-field cron (minute hour day month weekday), evaluated in APP_TIMEZONE; six fields add seconds.
const cron = z.string().regex(/^\S+( \S+){4,5}$/, 'must be a cron pattern such as "0 9 * * *"');

const schedulerSchema = z.object({
  ...common,
  ...worker,
  // A creative still 'processing' this long with no live job is rejected by cleanup.
  CREATIVE_PROCESSING_MAX_AGE_MINUTES: int(1, 10_080).default(30),
  // How often the scheduler writes its recurring jobs again (they come back after a queue-store wipe).
  SCHEDULE_REASSERT_MS: int(1_000, 86_400_000).default(60_000),
  METRICS_PORT: int(0, 65535).default(9102),
  ...storage,
  CREATIVES_CONCURRENCY: int(1, 32).default(2),
  IMAGE_MAX_PIXELS: int(1, 1_000_000_000).default(40_000_000),
  THUMBNAIL_SIZE: int(16, 2048).default(320),
  DIGEST_CRON: cron.default('0 9 * * *'),
  CLEANUP_CRON: cron.default('17 * * * *'),
  SESSION_RETENTION_DAYS: int(0, 3650).default(7),
  AUTH_EVENT_RETENTION_DAYS: int(1, 3650).default(90),
});

const migrateSchema = z.object({
  NODE_ENV: common.NODE_ENV, LOG_LEVEL: common.LOG_LEVEL, DATABASE_URL: common.DATABASE_URL, DATABASE_POOLER: common.DATABASE_POOLER,
  QUEUE_BACKEND: common.QUEUE_BACKEND, REDIS_URL: common.REDIS_URL, QUEUE_DATABASE_URL: common.QUEUE_DATABASE_URL, QUEUE_PREFIX: common.QUEUE_PREFIX,
  REDIS_SENTINELS: common.REDIS_SENTINELS, REDIS_SENTINEL_MASTER: common.REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD: common.REDIS_SENTINEL_PASSWORD,
  REDIS_CLUSTER_NODES: common.REDIS_CLUSTER_NODES, REDIS_USERNAME: common.REDIS_USERNAME, REDIS_PASSWORD: common.REDIS_PASSWORD,
});

type Env = Record<string, string | undefined>;

function parseEnv<S extends z.ZodType>(schema: S, env: Env): z.output<S> {
  // An empty variable means "not set", as in most shells' `FOO= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    // Echo what was given, except for anything that may hold a secret (keys, passwords, URLs).
    const shown = (name: string) => {
      const given = cleaned[name];
      return given === undefined || /SECRET|KEY|PASSWORD|URL|SENTINELS|NODES|ENDPOINT/.test(name) ? '' : ` (got ${JSON.stringify(given.length > 40 ? `${given.slice(0, 40)}…` : given)})`;
    };
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}${shown(String(i.path[0]))}`);
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  return result.data;
}

/**
 * Secrets have development defaults so `npm run dev` works out of the box. An unset secret, or one
 * equal to the published development value, refuses to start with NODE_ENV=production, and
 * otherwise only on loopback: anyone who can reach the service could forge tokens with it, and
 * NODE_ENV is too easy to forget to be the only guard. `listen` maps each address variable to its
 * value; `trustProxy` is set when a reverse proxy is declared, which makes even a loopback
 * listener reachable from the network.
 */
function resolveSecrets<K extends string>(
  nodeEnv: string, secrets: Record<K, [value: string | undefined, devValue: string]>, listen: Record<string, string>,
  trustProxy: boolean | number | string = false,
): Record<K, string> {
  const entries = Object.entries(secrets) as [K, [string | undefined, string]][];
  const bad = entries.filter(([, [value, dev]]) => value === undefined || value === dev).map(([name]) => name);
  if (nodeEnv === 'production' && bad.length > 0) {
    throw new ConfigError(`invalid environment:\n${bad.map((n) => `  ${n}: must be set to a private value when NODE_ENV=production`).join('\n')}`);
  }
  const exposed = bad.length > 0 ? Object.entries(listen).filter(([, host]) => !isLoopbackHost(host)) : [];
  if (exposed.length > 0) {
    const which = `${bad.join(', ')} ${bad.length > 1 ? 'are the published development values' : 'is the published development value'}`;
    const fix = bad.length > 1 ? 'set them to private values' : 'set it to a private value';
    const lines = exposed.map(([name, host]) => `  ${name}: must be loopback (127.0.0.1, ::1, localhost) while ${which} (got ${JSON.stringify(host)}): ${fix}, or ${name}=127.0.0.1`);
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  if (bad.length > 0 && trustProxy !== false) {
    const which = `${bad.join(', ')} ${bad.length > 1 ? 'are the published development values' : 'is the published development value'}`;
    throw new ConfigError(`invalid environment:\n  TRUST_PROXY: a reverse proxy makes the service reachable from the network while ${which}: set ${bad.length > 1 ? 'them' : 'it'} to private values, or TRUST_PROXY=false`);
  }
  return Object.fromEntries(entries.map(([name, [value, dev]]) => [name, value ?? dev])) as Record<K, string>;
}

/**
 * A list of retired or extra keys holding a published development key is accepted only where
 * that key would be as the current one: outside production, on loopback, with no proxy.
 */
function refuseDevKeysInLists(nodeEnv: string, lists: Record<string, boolean>, listen: Record<string, string>, trustProxy: boolean | number | string = false): void {
  const holding = Object.entries(lists).filter(([, holds]) => holds).map(([name]) => name);
  const exposed = nodeEnv === 'production' || trustProxy !== false || Object.values(listen).some((host) => !isLoopbackHost(host));
  if (holding.length > 0 && exposed) {
    throw new ConfigError(`invalid environment:\n${holding.map((n) => `  ${n}: holds a published development key, accepted only on loopback outside production: remove it`).join('\n')}`);
  }
}

const DEV_JWT_PUBLIC_KEY = createPublicKey(DEV_JWT_PRIVATE_KEY).export({ type: 'spki', format: 'pem' }).toString();

/**
 * Production names every connection explicitly. Queues on PostgreSQL are a choice to make with
 * QUEUE_BACKEND=postgres, never the silent result of a forgotten REDIS_URL.
 */
function requireInProduction(env: Env, names: string[]): void {
  // Files in a bucket need no local directory.
  if (env.STORAGE === 's3') names = names.filter((n) => n !== 'UPLOAD_DIR');
  if (env.NODE_ENV !== 'production') return;
  const missing = names.filter((n) => !env[n]).map((n) => `  ${n}: required when NODE_ENV=production`);
  const redisNamed = !!(env.REDIS_URL || env.REDIS_SENTINELS || env.REDIS_CLUSTER_NODES);
  if (!redisNamed && env.QUEUE_BACKEND !== 'postgres') {
    missing.splice(env.DATABASE_URL ? 0 : 1, 0, '  REDIS_URL: required when NODE_ENV=production (or REDIS_SENTINELS, REDIS_CLUSTER_NODES, or set QUEUE_BACKEND=postgres)');
  }
  if (missing.length > 0) throw new ConfigError(`invalid environment:\n${missing.join('\n')}`);
}

type StorageEnv = Pick<z.output<typeof apiSchema>, 'STORAGE' | 'UPLOAD_DIR' | 'S3_BUCKET' | 'S3_PREFIX' | 'S3_ENDPOINT' | 'S3_REGION' | 'AWS_REGION' | 'S3_FORCE_PATH_STYLE' | 'S3_TIMEOUT_MS'>;

function storageSettings(e: StorageEnv): StorageSettings {
  if (e.STORAGE === 'local') return { kind: 'local', dir: e.UPLOAD_DIR };
  if (!e.S3_BUCKET) throw new ConfigError('invalid environment:\n  S3_BUCKET: required when STORAGE=s3');
  return {
    kind: 's3', bucket: e.S3_BUCKET, prefix: e.S3_PREFIX ?? '', endpoint: e.S3_ENDPOINT, region: e.S3_REGION ?? e.AWS_REGION ?? 'us-east-1',
    forcePathStyle: e.S3_FORCE_PATH_STYLE, timeoutMs: e.S3_TIMEOUT_MS,
  };
}

type QueueEnv = {
  QUEUE_BACKEND?: 'redis' | 'postgres' | undefined; REDIS_URL?: string | undefined; QUEUE_DATABASE_URL?: string | undefined; DATABASE_URL: string; QUEUE_PREFIX: string;
  REDIS_SENTINELS?: RedisNode[] | undefined; REDIS_SENTINEL_MASTER?: string | undefined; REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_CLUSTER_NODES?: RedisNode[] | undefined; REDIS_USERNAME?: string | undefined; REDIS_PASSWORD?: string | undefined;
};

/** Exactly one way to Redis, with the settings that way needs and none that it would ignore. */
function redisTopologyProblems(e: QueueEnv): string[] {
  const named = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((n) => e[n] !== undefined);
  const problems: string[] = [];
  if (named.length > 1) problems.push(`  ${named.join(', ')}: set only one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES`);
  if (e.REDIS_SENTINELS && !e.REDIS_SENTINEL_MASTER) problems.push('  REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS (the master group name Sentinel monitors)');
  for (const n of ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD'] as const) {
    if (e[n] !== undefined && !e.REDIS_SENTINELS) problems.push(`  ${n}: only used with REDIS_SENTINELS`);
  }
  for (const n of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const) {
    if (e[n] === undefined || e.REDIS_SENTINELS || e.REDIS_CLUSTER_NODES) continue;
    problems.push(`  ${n}: only used with REDIS_SENTINELS or REDIS_CLUSTER_NODES${e.REDIS_URL ? ' (put the credentials in REDIS_URL: redis://user:password@host:port)' : ''}`);
  }
  return problems;
}

function queueSettings(e: QueueEnv): QueueSettings {
  const problems = redisTopologyProblems(e);
  if (problems.length) throw new ConfigError(`invalid environment:\n${problems.join('\n')}`);
  const redisNamed = !!(e.REDIS_URL || e.REDIS_SENTINELS || e.REDIS_CLUSTER_NODES);
  const kind = e.QUEUE_BACKEND ?? (redisNamed ? 'redis' : 'postgres');
  if (kind === 'postgres') return { kind, url: e.QUEUE_DATABASE_URL ?? e.DATABASE_URL, schema: queueSchemaOf(e.QUEUE_PREFIX) };
  const credentials = { username: e.REDIS_USERNAME, password: e.REDIS_PASSWORD };
  const topology = e.REDIS_SENTINELS && e.REDIS_SENTINEL_MASTER
    ? { mode: 'sentinel' as const, sentinels: e.REDIS_SENTINELS, master: e.REDIS_SENTINEL_MASTER, sentinelPassword: e.REDIS_SENTINEL_PASSWORD, ...credentials }
    : e.REDIS_CLUSTER_NODES
      ? { mode: 'cluster' as const, nodes: e.REDIS_CLUSTER_NODES, ...credentials }
      : { mode: 'standalone' as const, url: e.REDIS_URL ?? 'redis://127.0.0.1:6379' };
  return { kind, topology, prefix: e.QUEUE_PREFIX };
}

/**
 * BullMQ's PostgreSQL backend holds sessions (LISTEN/NOTIFY, a search_path sent at start-up) that a
 * transaction-mode pooler cannot give it: with DATABASE_POOLER its database must be named apart.
 */
function queuesBesidePooler(e: { DATABASE_POOLER: string; QUEUE_DATABASE_URL?: string | undefined }, queue: QueueSettings): QueueSettings {
  if (e.DATABASE_POOLER !== 'none' && queue.kind === 'postgres' && !e.QUEUE_DATABASE_URL) {
    throw new ConfigError('invalid environment:\n  QUEUE_DATABASE_URL: required with DATABASE_POOLER=pgbouncer and the PostgreSQL queue backend: point it at PostgreSQL directly, since the queues need LISTEN/NOTIFY and a search_path set at start-up');
  }
  return queue;
}

function commonSections(e: z.output<typeof apiSchema> | z.output<typeof mailerSchema> | z.output<typeof schedulerSchema>) {
  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    database: { url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX, pooler: e.DATABASE_POOLER },
    queue: queuesBesidePooler(e, queueSettings(e)),
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    operator: { host: e.METRICS_HOST, port: e.METRICS_PORT },
    otpTtlSeconds: e.OTP_TTL_SECONDS,
    email: { attempts: e.EMAIL_ATTEMPTS, backoffMs: e.EMAIL_BACKOFF_MS },
  };
}

/** Operator credentials come as a pair; in production the password must be long enough to resist guessing. */
function checkAdminCredentials(e: { NODE_ENV: string; ADMIN_USER?: string | undefined; ADMIN_PASSWORD?: string | undefined }): void {
  const problems: string[] = [];
  if (!!e.ADMIN_USER !== !!e.ADMIN_PASSWORD) problems.push(`  ${e.ADMIN_USER ? 'ADMIN_PASSWORD' : 'ADMIN_USER'}: set both ADMIN_USER and ADMIN_PASSWORD, or neither (the board is then off)`);
  if (e.NODE_ENV === 'production' && e.ADMIN_PASSWORD && (e.ADMIN_PASSWORD.length < 16 || e.ADMIN_PASSWORD === e.ADMIN_USER || /^(.)\1*$/.test(e.ADMIN_PASSWORD))) {
    problems.push('  ADMIN_PASSWORD: too weak for production (at least 16 characters, not the user name; openssl rand -base64 24)');
  }
  if (problems.length) throw new ConfigError(`invalid environment:\n${problems.join('\n')}`);
}

/** The API's pause before it stops accepting counts against the grace period, which must leave time to finish requests. */
function shutdownDelayOf(e: { NODE_ENV: string; SHUTDOWN_DELAY_MS?: number | undefined; SHUTDOWN_GRACE_MS: number }): number {
  const delay = e.SHUTDOWN_DELAY_MS ?? (e.NODE_ENV === 'production' ? 5_000 : 0);
  if (delay > 0 && delay >= e.SHUTDOWN_GRACE_MS) {
    const given = e.SHUTDOWN_DELAY_MS === undefined ? `${delay}, the production default` : String(delay);
    throw new ConfigError(`invalid environment:\n  SHUTDOWN_DELAY_MS: must be less than SHUTDOWN_GRACE_MS (${e.SHUTDOWN_GRACE_MS}), which bounds the delay and the drain after it (got ${given}): lower it or raise SHUTDOWN_GRACE_MS`);
  }
  return delay;
}

/** Configuration of services/api, parsed once from the environment. */
export function loadApiConfig(env: Env) {
  requireInProduction(env, ['DATABASE_URL', 'UPLOAD_DIR']);
  const e = parseEnv(apiSchema, env);
  checkAdminCredentials(e);
  const secrets = resolveSecrets(e.NODE_ENV, {
    JOB_ENCRYPTION_KEY: [e.JOB_ENCRYPTION_KEY, DEV_JOB_ENCRYPTION_KEY],
    OTP_HASH_SECRET: [e.OTP_HASH_SECRET, DEV_OTP_HASH_SECRET],
    JWT_PRIVATE_KEY: [e.JWT_PRIVATE_KEY, DEV_JWT_PRIVATE_KEY],
    SECRET_ENCRYPTION_KEY: [e.SECRET_ENCRYPTION_KEY, DEV_SECRET_ENCRYPTION_KEY],
  }, { HOST: e.HOST, METRICS_HOST: e.METRICS_HOST }, e.TRUST_PROXY);
  const jobEncryptionOldKeys = e.JOB_ENCRYPTION_OLD_KEYS ?? [];
  const secretEncryptionOldKeys = e.SECRET_ENCRYPTION_OLD_KEYS ?? [];
  const verifyKeyPems = e.JWT_VERIFY_KEYS ?? [];
  refuseDevKeysInLists(e.NODE_ENV, {
    JOB_ENCRYPTION_OLD_KEYS: jobEncryptionOldKeys.includes(DEV_JOB_ENCRYPTION_KEY),
    SECRET_ENCRYPTION_OLD_KEYS: secretEncryptionOldKeys.includes(DEV_SECRET_ENCRYPTION_KEY),
    JWT_VERIFY_KEYS: verifyKeyPems.includes(DEV_JWT_PUBLIC_KEY),
  }, { HOST: e.HOST, METRICS_HOST: e.METRICS_HOST }, e.TRUST_PROXY);
  return {
    ...commonSections(e),
    shutdownDelayMs: shutdownDelayOf(e),
    jobEncryptionKey: secrets.JOB_ENCRYPTION_KEY,
    jobEncryptionOldKeys,
    secretEncryptionKey: secrets.SECRET_ENCRYPTION_KEY,
    secretEncryptionOldKeys,
    http: {
      host: e.HOST, port: e.PORT, trustProxy: e.TRUST_PROXY,
      bodyTimeoutMs: e.BODY_TIMEOUT_MS, uploadTimeoutMs: e.UPLOAD_TIMEOUT_MS, maxConnectionsPerClient: e.MAX_CONNECTIONS_PER_CLIENT,
    },
    otp: {
      ttlSeconds: e.OTP_TTL_SECONDS, maxAttempts: e.OTP_MAX_ATTEMPTS, resendSeconds: e.OTP_RESEND_SECONDS,
      maxPerClientHour: e.OTP_MAX_PER_HOUR, maxPerMailboxHour: e.OTP_MAX_PER_MAILBOX_HOUR, longCodesAfterFailures: e.OTP_LONG_CODES_AFTER_FAILURES,
    },
    clientLimits: {
      window: e.CLIENT_LIMIT_WINDOW_SECONDS,
      otp: e.OTP_REQUESTS_PER_CLIENT, verify: e.VERIFY_REQUESTS_PER_CLIENT, refresh: e.REFRESH_REQUESTS_PER_CLIENT, mfa: e.MFA_REQUESTS_PER_CLIENT,
    },
    mfa: {
      issuer: e.MFA_ISSUER, tokenTtlSeconds: e.MFA_TOKEN_TTL_SECONDS, maxAttempts: e.MFA_MAX_ATTEMPTS,
      maxFailuresPerHour: e.MFA_MAX_FAILURES_PER_HOUR, enrolMaxSignInAgeSeconds: e.MFA_ENROL_MAX_SIGN_IN_AGE_SECONDS,
    },
    emailsPerMinute: e.EMAILS_PER_MINUTE,
    otpHashSecret: secrets.OTP_HASH_SECRET,
    jwt: {
      privateKeyPem: secrets.JWT_PRIVATE_KEY,
      /** Public keys (SPKI PEM) that verify but never sign. */
      verifyKeyPems,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      accessTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
    },
    refreshTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
    refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
    storage: storageSettings(e),
    timeZone: e.APP_TIMEZONE,
    creatives: { maxBytes: e.UPLOAD_MAX_BYTES, horizonDays: e.SCHEDULE_HORIZON_DAYS },
    admin: e.ADMIN_USER && e.ADMIN_PASSWORD ? { user: e.ADMIN_USER, password: e.ADMIN_PASSWORD, readOnly: e.ADMIN_READ_ONLY } : undefined,
  };
}

/** Configuration of services/mailer-worker, parsed once from the environment. */
export function loadMailerConfig(env: Env) {
  requireInProduction(env, ['DATABASE_URL', 'SMTP_URL', 'MAIL_FROM']);
  const e = parseEnv(mailerSchema, env);
  const secrets = resolveSecrets(e.NODE_ENV, { JOB_ENCRYPTION_KEY: [e.JOB_ENCRYPTION_KEY, DEV_JOB_ENCRYPTION_KEY] }, { METRICS_HOST: e.METRICS_HOST });
  const jobEncryptionOldKeys = e.JOB_ENCRYPTION_OLD_KEYS ?? [];
  refuseDevKeysInLists(e.NODE_ENV, { JOB_ENCRYPTION_OLD_KEYS: jobEncryptionOldKeys.includes(DEV_JOB_ENCRYPTION_KEY) }, { METRICS_HOST: e.METRICS_HOST });
  return {
    ...commonSections(e),
    jobEncryptionKey: secrets.JOB_ENCRYPTION_KEY,
    jobEncryptionOldKeys,
    smtp: { url: e.SMTP_URL, from: e.MAIL_FROM, timeoutMs: e.SMTP_TIMEOUT_MS, maxConnections: e.SMTP_MAX_CONNECTIONS },
    concurrency: e.MAILER_CONCURRENCY,
    worker: { lockMs: e.QUEUE_LOCK_MS, stalledIntervalMs: e.QUEUE_STALLED_INTERVAL_MS },
    deliveryLeaseMs: e.DELIVERY_LEASE_MS,
  };
}

/** Configuration of services/scheduler, parsed once from the environment. */
export function loadSchedulerConfig(env: Env) {
  requireInProduction(env, ['DATABASE_URL', 'UPLOAD_DIR']);
  const e = parseEnv(schedulerSchema, env);
  return {
    ...commonSections(e),
    storage: storageSettings(e),
    timeZone: e.APP_TIMEZONE,
    images: { maxPixels: e.IMAGE_MAX_PIXELS, thumbnailSize: e.THUMBNAIL_SIZE },
    concurrency: e.CREATIVES_CONCURRENCY,
    worker: { lockMs: e.QUEUE_LOCK_MS, stalledIntervalMs: e.QUEUE_STALLED_INTERVAL_MS },
    schedules: { digest: e.DIGEST_CRON, cleanup: e.CLEANUP_CRON, reassertMs: e.SCHEDULE_REASSERT_MS },
    processingMaxAgeMinutes: e.CREATIVE_PROCESSING_MAX_AGE_MINUTES,
    retention: { sessionDays: e.SESSION_RETENTION_DAYS, authEventDays: e.AUTH_EVENT_RETENTION_DAYS },
  };
}

/** Configuration of the migration command. */
export function loadMigrateConfig(env: Env) {
  requireInProduction(env, ['DATABASE_URL']);
  const e = parseEnv(migrateSchema, env);
  // It creates the database from the server's maintenance database, and migrations must run with no
  // statement deadline, which through PgBouncer would be the role's (the app's 2 s): PostgreSQL itself.
  if (e.DATABASE_POOLER !== 'none') {
    throw new ConfigError('invalid environment:\n  DATABASE_POOLER: npm run migrate needs a direct connection to PostgreSQL, not PgBouncer (it may create the database and must run without the app\'s statement deadline): run it with DATABASE_URL pointing at PostgreSQL itself and DATABASE_POOLER unset');
  }
  return { env: e.NODE_ENV, logLevel: e.LOG_LEVEL, database: { url: e.DATABASE_URL }, queue: queueSettings(e) };
}

export type ApiConfig = ReturnType<typeof loadApiConfig>;
export type MailerConfig = ReturnType<typeof loadMailerConfig>;
export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;

/** Runs a config loader; on a ConfigError prints its message (naming each bad variable) and exits 1. */
export function exitOnConfigError<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
