import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import draft07 from 'ajv/dist/refs/json-schema-draft-07.json' with { type: 'json' };
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '@cheershare/shared';
import { createTestDatabase, startService, startSmtpSink, waitUntil, type ServiceProcess, type SmtpSink } from '@cheershare/shared/testing';
import { APP_SERVICES, CREDENTIAL_NAME, ENTRY_POINTS, knownVariables, LOADERS, operatorSecrets, SECRET_HOLDERS } from '../deploy/service-contract.ts';
import { durationSeconds, MissingVariableError, readCompose, readComposeRaw, type ComposeFile } from './compose-file.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCHEMA = join(ROOT, '../shared/compose-spec.schema.json');

/** What an operator's .env holds: real, private secrets. */
function operatorEnv(): Record<string, string> {
  // Characters a URL would choke on, as `openssl rand -base64` produces them.
  return { POSTGRES_PASSWORD: `${randomBytes(12).toString('base64')}/#?@:`, ...operatorSecrets() };
}

describe('docker-compose.yml, checked without a Docker engine', () => {
  const compose: ComposeFile = readCompose(operatorEnv());

  it.runIf(existsSync(SCHEMA))('is valid against the Compose Specification JSON Schema', () => {
    // The file names its draft with https and no '#'; Ajv ships the same draft-07 meta-schema.
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
    const ok = validate(readComposeRaw());
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('refuses to run without the production secrets, naming each', () => {
    for (const name of Object.keys(operatorEnv())) {
      const env = operatorEnv();
      delete env[name];
      expect(() => readCompose(env)).toThrow(MissingVariableError);
      expect(() => readCompose(env)).toThrow(new RegExp(`^${name}: set ${name} in \\.env`));
    }
  });

  it('has the services it promises, each long-running one with a healthcheck and pinned images', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'mailer-worker', 'mailpit', 'migrate', 'postgres', 'proxy', 'scheduler', 'valkey']);
    for (const [name, service] of Object.entries(compose.services)) {
      if (name !== 'migrate') expect(service.healthcheck?.test.length, name).toBeGreaterThan(0);
      if (service.image && !service.build) expect(service.image, name).toMatch(/:[^:]+$/);
      expect(service.image ?? '', name).not.toMatch(/:latest$/);
    }
  });

  it('orders start-up with conditions its targets can meet', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [target, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(compose.services[target], `${name} depends on ${target}`).toBeDefined();
        if (condition === 'service_healthy') expect(compose.services[target]!.healthcheck, `${target} needs a healthcheck`).toBeDefined();
        if (condition === 'service_completed_successfully') expect(compose.services[target]!.restart, `${target} must run once`).toBe('no');
      }
    }
    for (const app of ['api', 'mailer-worker', 'scheduler']) expect(compose.services[app]!.depends_on?.migrate?.condition).toBe('service_completed_successfully');
  });

  it('runs node itself under init, with commands that exist and a grace period longer than the drain', () => {
    for (const name of APP_SERVICES) {
      const service = compose.services[name]!;
      expect(service.init, name).toBe(true);
      expect(service.command, name).toEqual([ENTRY_POINTS[name]]);
      expect(existsSync(join(ROOT, service.command![0]!)), `${name}: ${service.command![0]}`).toBe(true);
      expect(durationSeconds(service.stop_grace_period!), name).toBeGreaterThan(Number(service.environment!.SHUTDOWN_GRACE_MS) / 1000);
    }
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/ENTRYPOINT \["node"\]/);
  });

  it('gives every service what production requires of it', () => {
    for (const name of APP_SERVICES) {
      const env = compose.services[name]!.environment!;
      expect(env.NODE_ENV).toBe('production');
      expect(() => LOADERS[name]!(env), name).not.toThrow();
    }
  });

  it('forwards every setting .env.example documents to the services (compose reads .env only for what it names)', () => {
    const documented = [...readFileSync(join(ROOT, '.env.example'), 'utf8').matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    // The runner's own, compose's own (used in the file itself), connections compose sets for its
    // network (its one Valkey and its one PostgreSQL, reached directly, so no DATABASE_POOLER), and
    // what compose fixes: the proxy's hop, the grace its stop period covers.
    const notForwarded = ['DEV_INBOX_PORT', 'POSTGRES_PASSWORD', 'API_PORT', 'MAILPIT_UI_PORT', 'NODE_ENV', 'HOST', 'PORT', 'METRICS_PORT', 'METRICS_HOST',
      'DATABASE_URL', 'DATABASE_POOLER', 'REDIS_URL', 'QUEUE_BACKEND', 'QUEUE_DATABASE_URL', 'QUEUE_PREFIX', 'UPLOAD_DIR',
      'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD', 'REDIS_CLUSTER_NODES', 'REDIS_USERNAME', 'REDIS_PASSWORD',
      'TRUST_PROXY', 'SHUTDOWN_GRACE_MS'];
    const raw = readComposeRaw() as ComposeFile;
    const forwarded = new Set(APP_SERVICES.flatMap((name) => Object.entries(raw.services[name]!.environment!).filter(([key, value]) => value.includes(`\${${key}`)).map(([key]) => key)));
    expect(documented.filter((name) => !notForwarded.includes(name) && !forwarded.has(name))).toEqual([]);
  });

  it('sets only variables the services read', () => {
    const known = knownVariables();
    const names = new Set(APP_SERVICES.flatMap((name) => Object.keys(compose.services[name]!.environment!)));
    expect([...names].filter((name) => !known.has(name))).toEqual([]);
  });

  it('hands each secret only to the services that use it, from .env, never written in the file', () => {
    const holders = (name: string) => Object.entries(compose.services).filter(([, s]) => s.environment?.[name] !== undefined).map(([n]) => n).sort();
    for (const [name, services] of Object.entries(SECRET_HOLDERS)) expect(holders(name), name).toEqual(services);
    const raw = readComposeRaw() as ComposeFile;
    for (const [service, { environment }] of Object.entries(raw.services)) {
      for (const [name, value] of Object.entries(environment ?? {})) {
        // Only ever `${VARIABLE}` from .env, whatever the name it arrives under (POSTGRES_PASSWORD as PGPASSWORD).
        if (CREDENTIAL_NAME.test(name)) expect(value, `${service}: ${name}`).toMatch(/^\$\{[A-Z][A-Z0-9_]*(?:[:?-][^}]*)?\}$/);
      }
    }
    // Any characters are safe in the database password: it is not spliced into a URL.
    expect(new URL(compose.services.api!.environment!.DATABASE_URL!).password).toBe('');
  });

  it('ships the operators\' task runner in the image, as the README tells operators to use it', () => {
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^COPY scripts\/task\.ts scripts\/task\.ts$/m);
  });

  it('keeps queued jobs: the queue server has AOF on and never evicts', () => {
    const command = compose.services.valkey!.command!.join(' ');
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
    expect(compose.services.valkey!.volumes).toEqual(['queuedata:/data']);
  });

  it('declares its volumes, shares uploads between api and scheduler, and publishes only the proxy and the mail UI', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        // A bind mount is a file of the repository; anything else is a named volume.
        if (source.startsWith('./')) expect(existsSync(join(ROOT, source)), `${name}: ${volume}`).toBe(true);
        else expect(declared, `${name}: ${volume}`).toContain(source);
      }
      if (service.ports) expect(['proxy', 'mailpit'], `${name} publishes ports`).toContain(name);
    }
    expect(compose.services.proxy!.ports).toEqual(['3000:80']);
    expect(compose.services.mailpit!.ports).toEqual(['8025:8025']);
    expect(compose.services.api!.volumes).toContain('uploads:/data/uploads');
    expect(compose.services.scheduler!.volumes).toContain('uploads:/data/uploads');
    expect(compose.services.api!.environment!.UPLOAD_DIR).toBe('/data/uploads');
    expect(compose.services.postgres!.volumes).toEqual(['pgdata:/var/lib/postgresql']);
  });
});

// The compose file's env contract, exercised for real: each app service's command runs on this
// host with its compose environment, the service host names mapped to servers the test has.
const redisUrl = inject('redisUrl');
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

describe.runIf(redisUrl || hasRedisServer)('each compose service, run as a process on this host', () => {
  let sink: SmtpSink;
  let redis: string;
  let privateRedis: ReturnType<typeof spawn> | undefined;
  const dirs: string[] = [];
  const running: ServiceProcess[] = [];
  let compose: ComposeFile;
  const mapped: Record<string, Record<string, string>> = {};
  const healthchecks: Record<string, string[]> = {};

  beforeAll(async () => {
    sink = await startSmtpSink();
    if (redisUrl) redis = redisUrl;
    else {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'cheershare-compose-redis-'));
      dirs.push(dir);
      privateRedis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
      redis = `redis://127.0.0.1:${port}`;
      await waitUntil(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG', 'the private redis-server');
    }
    const server = new URL(inject('databaseUrl'));
    server.pathname = '/postgres';
    const database = new URL(await createTestDatabase(server.toString(), `cheershare_compose_${randomBytes(4).toString('hex')}`));
    const uploads = mkdtempSync(join(tmpdir(), 'cheershare-compose-uploads-'));
    dirs.push(uploads);
    compose = readCompose(operatorEnv());
    const prefix = `cstest-compose-${randomBytes(4).toString('hex')}`;
    for (const name of APP_SERVICES) {
      const env = { ...compose.services[name]!.environment! };
      // postgres, valkey and mailpit are the hosts the compose network gives; here they are ours.
      expect(new URL(env.DATABASE_URL!).hostname).toBe('postgres');
      expect(env.REDIS_URL).toBe('redis://valkey:6379');
      expect(env.SMTP_URL).toBe('smtp://mailpit:1025');
      env.DATABASE_URL = database.toString();
      env.REDIS_URL = redis;
      env.SMTP_URL = sink.url;
      env.QUEUE_PREFIX = prefix;
      env.UPLOAD_DIR = uploads;
      // Ports as compose gives them inside each container, here moved to free ones on this host.
      if (env.PORT) env.PORT = String(await freePort());
      if (env.METRICS_PORT) {
        const port = String(await freePort());
        healthchecks[name] = compose.services[name]!.healthcheck!.test.map((a) => a.replace(`127.0.0.1:${env.METRICS_PORT}/`, `127.0.0.1:${port}/`));
        env.METRICS_PORT = port;
      }
      mapped[name] = env;
    }
  });
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop('SIGKILL')));
    privateRedis?.kill('SIGKILL');
    await sink?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('migrates, then api, mailer-worker and scheduler pass their own compose healthchecks, and drain to exit 0', async () => {
    const migrate = startService(join(ROOT, compose.services.migrate!.command![0]!), mapped.migrate!);
    expect(await migrate.exited).toBe(0);

    for (const name of ['api', 'mailer-worker', 'scheduler']) {
      const service = startService(join(ROOT, compose.services[name]!.command![0]!), mapped[name]!);
      running.push(service);
    }
    for (const name of ['api', 'mailer-worker', 'scheduler']) {
      const [cmd, program, ...args] = healthchecks[name]!;
      expect(args.join(' ')).toContain(`127.0.0.1:${mapped[name]!.METRICS_PORT}/readyz`);
      expect([cmd, program]).toEqual(['CMD', 'node']);
      await expect.poll(() => spawnSync(process.execPath, args, { timeout: 5_000 }).status, { timeout: 30_000, interval: 250 }).toBe(0);
    }
    // Compose publishes the API: a sign-in request works end to end, mail included.
    const res = await fetch(`http://127.0.0.1:${mapped.api!.PORT}/v1/auth/otp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'compose@example.test' }) });
    expect(res.status).toBe(202);
    await sink.waitForMail((m) => m.to.includes('compose@example.test'), 15_000);

    for (const service of running) expect(await service.stop('SIGTERM')).toBe(0);
  }, 90_000);
});
