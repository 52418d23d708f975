import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadApiConfig, loadMailerConfig, loadMigrateConfig, loadSchedulerConfig } from '../src/index.ts';
import { DEV_JOB_ENCRYPTION_KEY, DEV_JWT_PRIVATE_KEY, DEV_OTP_HASH_SECRET, DEV_SECRET_ENCRYPTION_KEY } from '../src/dev-secrets.ts';

describe('config', () => {
  it('has development defaults that need no setup', () => {
    const config = loadApiConfig({});
    expect(config.http.port).toBe(3000);
    expect(config.otp).toEqual({ ttlSeconds: 600, maxAttempts: 5, resendSeconds: 30, maxPerClientHour: 5, maxPerMailboxHour: 30, longCodesAfterFailures: 10 });
    expect(config.clientLimits).toEqual({ window: 600, otp: 10, verify: 30, refresh: 60, mfa: 30 });
    expect(config.mfa).toEqual({ issuer: 'cheershare', tokenTtlSeconds: 300, maxAttempts: 5, maxFailuresPerHour: 10, enrolMaxSignInAgeSeconds: 600 });
    expect(config.emailsPerMinute).toBe(300);
    expect(config.jwt.privateKeyPem).toBe(DEV_JWT_PRIVATE_KEY);
  });

  it('names every malformed variable', () => {
    expect(() => loadApiConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x/y' })).toThrow(ConfigError);
    try {
      loadApiConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x/y' });
    } catch (err) {
      expect((err as Error).message).toMatch(/PORT:/);
      expect((err as Error).message).toMatch(/DATABASE_URL:/);
    }
  });

  it('refuses to start in production with unset or development secrets, naming them', () => {
    const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', REDIS_URL: 'redis://cache:6379', UPLOAD_DIR: '/srv/uploads' };
    expect(() => loadApiConfig(prod)).toThrow(/JOB_ENCRYPTION_KEY[\s\S]*OTP_HASH_SECRET[\s\S]*JWT_PRIVATE_KEY/);
    expect(() => loadApiConfig({ ...prod, JOB_ENCRYPTION_KEY: 'k'.repeat(32), OTP_HASH_SECRET: 's'.repeat(32), JWT_PRIVATE_KEY: DEV_JWT_PRIVATE_KEY }))
      .toThrow(/JWT_PRIVATE_KEY/);
  });

  describe('development secrets outside production', () => {
    const privateSecrets = { JOB_ENCRYPTION_KEY: 'k'.repeat(32), OTP_HASH_SECRET: 's'.repeat(32), SECRET_ENCRYPTION_KEY: 'e'.repeat(32), JWT_PRIVATE_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };

    it.each([[undefined], ['development'], ['test']])('refuse a non-loopback HOST with NODE_ENV=%s, saying what to do', (nodeEnv) => {
      const env = { HOST: '0.0.0.0', ...(nodeEnv && { NODE_ENV: nodeEnv }) };
      expect(() => loadApiConfig(env)).toThrow(ConfigError);
      expect(() => loadApiConfig(env)).toThrow(new ConfigError('invalid environment:\n'
        + '  HOST: must be loopback (127.0.0.1, ::1, localhost) while JOB_ENCRYPTION_KEY, OTP_HASH_SECRET, JWT_PRIVATE_KEY, SECRET_ENCRYPTION_KEY are the published development values (got "0.0.0.0"): set them to private values, or HOST=127.0.0.1'));
    });

    it('refuse when only one secret is the development value, and name only that one', () => {
      expect(() => loadApiConfig({ ...privateSecrets, OTP_HASH_SECRET: DEV_OTP_HASH_SECRET, HOST: '::' }))
        .toThrow(/^invalid environment:\n  HOST: must be loopback .* while OTP_HASH_SECRET is the published development value \(got "::"\): set it to a private value, or HOST=127.0.0.1$/);
    });

    it('refuse a non-loopback METRICS_HOST, in the api and the mailer-worker, one line per address', () => {
      expect(() => loadApiConfig({ METRICS_HOST: '0.0.0.0' })).toThrow(/^invalid environment:\n  METRICS_HOST: must be loopback .*METRICS_HOST=127.0.0.1$/);
      expect(() => loadApiConfig({ HOST: '10.1.2.3', METRICS_HOST: 'example.com' })).toThrow(/\n  HOST: must be loopback .*\n  METRICS_HOST: must be loopback /);
      expect(() => loadMailerConfig({ METRICS_HOST: '0.0.0.0' })).toThrow(/^invalid environment:\n  METRICS_HOST: must be loopback .* while JOB_ENCRYPTION_KEY is the published development value/);
    });

    it('work on loopback, which is the default', () => {
      expect(loadApiConfig({}).http.host).toBe('127.0.0.1');
      for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) expect(loadApiConfig({ HOST: host, METRICS_HOST: host }).http.host).toBe(host);
      expect(loadMailerConfig({ METRICS_HOST: '127.0.0.1' }).jobEncryptionKey).toBe(DEV_JOB_ENCRYPTION_KEY);
    });

    it('are not needed: private secrets listen anywhere', () => {
      expect(loadApiConfig({ ...privateSecrets, HOST: '0.0.0.0', METRICS_HOST: '0.0.0.0' }).http.host).toBe('0.0.0.0');
      expect(loadMailerConfig({ JOB_ENCRYPTION_KEY: privateSecrets.JOB_ENCRYPTION_KEY, METRICS_HOST: '0.0.0.0' }).operator.host).toBe('0.0.0.0');
    });

    it('are refused outright in production, even on loopback', () => {
      const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', REDIS_URL: 'redis://cache:6379', UPLOAD_DIR: '/srv/uploads', HOST: '127.0.0.1' };
      expect(() => loadApiConfig(prod)).toThrow(/^invalid environment:\n  JOB_ENCRYPTION_KEY: must be set to a private value when NODE_ENV=production\n/);
      expect(loadApiConfig({ ...prod, ...privateSecrets, HOST: '0.0.0.0' }).http.host).toBe('0.0.0.0');
    });
  });

  it('requires the connection URLs in production', () => {
    expect(() => loadMailerConfig({ NODE_ENV: 'production' })).toThrow(/DATABASE_URL[\s\S]*REDIS_URL[\s\S]*SMTP_URL[\s\S]*MAIL_FROM/);
  });

  it('puts the queues on Redis when REDIS_URL is set, otherwise on PostgreSQL in the app database', () => {
    expect(loadApiConfig({ REDIS_URL: 'redis://cache:6379', QUEUE_PREFIX: 'app' }).queue).toEqual({ kind: 'redis', topology: { mode: 'standalone', url: 'redis://cache:6379' }, prefix: 'app' });
    expect(loadApiConfig({ DATABASE_URL: 'postgres://db/app', QUEUE_PREFIX: 'My-App' }).queue).toEqual({ kind: 'postgres', url: 'postgres://db/app', schema: 'my_app' });
    expect(loadApiConfig({ QUEUE_DATABASE_URL: 'postgres://jobs/q' }).queue).toMatchObject({ kind: 'postgres', url: 'postgres://jobs/q' });
    expect(loadApiConfig({ QUEUE_BACKEND: 'postgres', REDIS_URL: 'redis://cache:6379' }).queue.kind).toBe('postgres');
    expect(() => loadApiConfig({ QUEUE_BACKEND: 'kafka' })).toThrow(/QUEUE_BACKEND/);
  });

  it('takes DATABASE_POOLER=pgbouncer; the PostgreSQL queues then need a database named apart, and migrate a direct one', () => {
    expect(loadApiConfig({}).database.pooler).toBe('none');
    const pooled = { DATABASE_URL: 'postgres://bouncer:6432/app', DATABASE_POOLER: 'pgbouncer' };
    expect(loadApiConfig({ ...pooled, REDIS_URL: 'redis://cache:6379' }).database).toEqual({ url: 'postgres://bouncer:6432/app', poolMax: 10, pooler: 'pgbouncer' });
    for (const load of [loadApiConfig, loadMailerConfig, loadSchedulerConfig]) {
      expect(() => load(pooled)).toThrow(/QUEUE_DATABASE_URL: required with DATABASE_POOLER=pgbouncer/);
      expect(load({ ...pooled, QUEUE_DATABASE_URL: 'postgres://db:5432/app' }).queue).toMatchObject({ kind: 'postgres', url: 'postgres://db:5432/app' });
    }
    expect(() => loadMigrateConfig({ ...pooled, REDIS_URL: 'redis://cache:6379' })).toThrow(/DATABASE_POOLER: npm run migrate needs a direct connection/);
    expect(() => loadApiConfig({ DATABASE_POOLER: 'pgcat' })).toThrow(/DATABASE_POOLER/);
  });

  it('in production, queues on PostgreSQL must be chosen, not the result of a forgotten REDIS_URL', () => {
    const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', SMTP_URL: 'smtp://mx:25', MAIL_FROM: 'a@b.c', JOB_ENCRYPTION_KEY: 'k'.repeat(32) };
    expect(() => loadMailerConfig(prod)).toThrow(/REDIS_URL: required .*QUEUE_BACKEND=postgres/);
    expect(loadMailerConfig({ ...prod, QUEUE_BACKEND: 'postgres' }).queue.kind).toBe('postgres');
  });

  it('reads TRUST_PROXY as Express does: a boolean, a hop count, or proxy addresses', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const own = { JOB_ENCRYPTION_KEY: 'k'.repeat(32), OTP_HASH_SECRET: 's'.repeat(32), SECRET_ENCRYPTION_KEY: 'e'.repeat(32), JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    expect(loadApiConfig({}).http.trustProxy).toBe(false);
    expect(loadApiConfig({ ...own, TRUST_PROXY: '1' }).http.trustProxy).toBe(1);
    expect(loadApiConfig({ ...own, TRUST_PROXY: 'loopback, 10.0.0.0/8' }).http.trustProxy).toBe('loopback, 10.0.0.0/8');
    expect(() => loadApiConfig({ TRUST_PROXY: 'yes please' })).toThrow(/TRUST_PROXY/);
  });

  it('refuses the development secrets behind a reverse proxy, even one on loopback', () => {
    for (const TRUST_PROXY of ['1', 'true', 'loopback']) {
      expect(() => loadApiConfig({ TRUST_PROXY })).toThrow(/TRUST_PROXY: a reverse proxy makes the service reachable[\s\S]*published development values/);
    }
  });

  it('takes operator credentials as a pair, and refuses a weak password in production', () => {
    expect(loadApiConfig({}).admin).toBeUndefined();
    expect(loadApiConfig({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'x' }).admin).toEqual({ user: 'ops', password: 'x', readOnly: false });
    expect(() => loadApiConfig({ ADMIN_USER: 'ops' })).toThrow(/ADMIN_PASSWORD: set both/);
    const prod = {
      NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', REDIS_URL: 'redis://cache:6379', UPLOAD_DIR: '/srv/uploads', ADMIN_USER: 'ops',
      JOB_ENCRYPTION_KEY: 'k'.repeat(32), OTP_HASH_SECRET: 's'.repeat(32),
    };
    for (const weak of ['short-password', 'a'.repeat(20)]) expect(() => loadApiConfig({ ...prod, ADMIN_PASSWORD: weak })).toThrow(/ADMIN_PASSWORD: too weak for production/);
  });

  it('resolves a relative UPLOAD_DIR from the repository root, so every service shares it', () => {
    expect(loadApiConfig({ UPLOAD_DIR: 'files' }).storage).toEqual({ kind: 'local', dir: new URL('../../../files', import.meta.url).pathname });
    expect(loadApiConfig({}).storage).toEqual({ kind: 'local', dir: new URL('../../../storage', import.meta.url).pathname });
    expect(loadSchedulerConfig({ UPLOAD_DIR: '/srv/files' }).storage).toEqual({ kind: 'local', dir: '/srv/files' });
  });

  describe('object storage (STORAGE=s3)', () => {
    const prod = {
      NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', REDIS_URL: 'redis://cache:6379',
      JOB_ENCRYPTION_KEY: 'k'.repeat(32), OTP_HASH_SECRET: 's'.repeat(32), SECRET_ENCRYPTION_KEY: 'e'.repeat(32),
      JWT_PRIVATE_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    };

    it('reads the bucket and its settings, with defaults for the rest', () => {
      expect(loadApiConfig({ STORAGE: 's3', S3_BUCKET: 'creatives' }).storage).toEqual({
        kind: 's3', bucket: 'creatives', prefix: '', endpoint: undefined, region: 'us-east-1', forcePathStyle: false, timeoutMs: 5000,
      });
      const env = {
        STORAGE: 's3', S3_BUCKET: 'my-bucket', S3_PREFIX: 'cheershare/prod/', S3_ENDPOINT: 'http://minio.internal:9000', S3_REGION: 'eu-west-3',
        S3_FORCE_PATH_STYLE: 'true', S3_TIMEOUT_MS: '2000',
      };
      const expected = { kind: 's3', bucket: 'my-bucket', prefix: 'cheershare/prod/', endpoint: 'http://minio.internal:9000', region: 'eu-west-3', forcePathStyle: true, timeoutMs: 2000 };
      expect(loadApiConfig(env).storage).toEqual(expected);
      expect(loadSchedulerConfig(env).storage).toEqual(expected);
    });

    it('takes the region from AWS_REGION when S3_REGION is unset', () => {
      expect(loadApiConfig({ STORAGE: 's3', S3_BUCKET: 'creatives', AWS_REGION: 'ap-south-1' }).storage).toMatchObject({ region: 'ap-south-1' });
      expect(loadApiConfig({ STORAGE: 's3', S3_BUCKET: 'creatives', AWS_REGION: 'ap-south-1', S3_REGION: 'eu-north-1' }).storage).toMatchObject({ region: 'eu-north-1' });
    });

    it('requires S3_BUCKET, naming it', () => {
      expect(() => loadApiConfig({ STORAGE: 's3' })).toThrow(new ConfigError('invalid environment:\n  S3_BUCKET: required when STORAGE=s3'));
      expect(() => loadSchedulerConfig({ STORAGE: 's3' })).toThrow(/S3_BUCKET: required when STORAGE=s3/);
    });

    it('names each malformed variable', () => {
      const bad = { STORAGE: 'nfs', S3_BUCKET: 'No_Such Bucket', S3_PREFIX: '../up', S3_ENDPOINT: 'ftp://store', S3_FORCE_PATH_STYLE: 'maybe', S3_TIMEOUT_MS: '0' };
      let message = '';
      try {
        loadApiConfig(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      for (const name of Object.keys(bad)) expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'));
    });

    it('needs no UPLOAD_DIR in production, where the local store still needs it', () => {
      expect(() => loadApiConfig(prod)).toThrow(/UPLOAD_DIR: required when NODE_ENV=production/);
      expect(() => loadSchedulerConfig(prod)).toThrow(/UPLOAD_DIR: required when NODE_ENV=production/);
      expect(loadApiConfig({ ...prod, STORAGE: 's3', S3_BUCKET: 'creatives' }).storage.kind).toBe('s3');
      expect(loadSchedulerConfig({ ...prod, STORAGE: 's3', S3_BUCKET: 'creatives' }).storage.kind).toBe('s3');
    });
  });

  it('rejects a multi-line MAIL_FROM (header injection)', () => {
    expect(() => loadMailerConfig({ MAIL_FROM: 'a@b.c\r\nBcc: x@y.z' })).toThrow(/MAIL_FROM/);
  });

  it('takes an MFA_ISSUER without a colon, which would split the otpauth label', () => {
    expect(loadApiConfig({ MFA_ISSUER: 'Cheers & Co' }).mfa.issuer).toBe('Cheers & Co');
    expect(() => loadApiConfig({ MFA_ISSUER: 'cheer:share' })).toThrow(/MFA_ISSUER/);
  });

  it('accepts a PEM key with escaped newlines, as .env files carry it', () => {
    const escaped = DEV_JWT_PRIVATE_KEY.replace(/\n/g, '\\n');
    expect(loadApiConfig({ JWT_PRIVATE_KEY: escaped }).jwt.privateKeyPem).toBe(DEV_JWT_PRIVATE_KEY);
  });
});

describe('config: keys that rotate', () => {
  const pemOf = (curve: string) => generateKeyPairSync('ec', { namedCurve: curve }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const spkiOf = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
  const own = { JOB_ENCRYPTION_KEY: 'k'.repeat(32), OTP_HASH_SECRET: 's'.repeat(32), SECRET_ENCRYPTION_KEY: 'e'.repeat(32), JWT_PRIVATE_KEY: pemOf('P-256') };
  const prod = { ...own, NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', REDIS_URL: 'redis://cache:6379', UPLOAD_DIR: '/srv/uploads' };

  it('takes JWT_VERIFY_KEYS as PEM keys one after another, public or private, "\\n" escaped or not, keeping only public halves', () => {
    const a = pemOf('P-256');
    const b = spkiOf(pemOf('P-256'));
    const expected = [spkiOf(a), b];
    for (const given of [`${a}\n${b}`, `${a}${b}`, `  ${a.trim()}\n\n\n${b.trim()}\n`, `${a}${b}`.replace(/\n/g, '\\n')]) {
      expect(loadApiConfig({ ...own, JWT_VERIFY_KEYS: given }).jwt.verifyKeyPems).toEqual(expected);
    }
    // SEC1 ("EC PRIVATE KEY"), as `openssl ecparam -genkey` writes it, is a private key too.
    const sec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(loadApiConfig({ ...own, JWT_VERIFY_KEYS: sec1.export({ type: 'sec1', format: 'pem' }).toString() }).jwt.verifyKeyPems)
      .toEqual([createPublicKey(sec1).export({ type: 'spki', format: 'pem' }).toString()]);
    expect(loadApiConfig(own).jwt.verifyKeyPems).toEqual([]);
  });

  it('refuses a malformed JWT_VERIFY_KEYS at start, naming it and never echoing it', () => {
    const good = pemOf('P-256');
    const cases: [string, RegExp][] = [
      ['not a key at all', /must be PEM keys/],
      [`${good}, ${spkiOf(pemOf('P-256'))}`, /must be PEM keys/],
      [good.replace('-----END PRIVATE KEY-----', ''), /must be PEM keys/],
      [`${spkiOf(good)}${good.replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA')}`, /key 2 of 2 is not a readable PEM public or private key/],
      [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(), /key 1 of 1 is not an EC P-256 key/],
      [pemOf('P-384'), /key 1 of 1 is not an EC P-256 key/],
    ];
    for (const [value, message] of cases) {
      expect(() => loadApiConfig({ ...own, JWT_VERIFY_KEYS: value }), value).toThrow(ConfigError);
      expect(() => loadApiConfig({ ...own, JWT_VERIFY_KEYS: value }), value).toThrow(new RegExp(`^invalid environment:\\n  JWT_VERIFY_KEYS: ${message.source}[^\\n]*$`));
    }
    expect(() => loadApiConfig({ ...own, JWT_VERIFY_KEYS: 'not a key at all' })).not.toThrow(/not a key at all/);
  });

  it('takes retired encryption keys comma-separated, in the api and the mailer-worker, each at least 32 characters', () => {
    const [o1, o2] = ['1'.repeat(32), '2'.repeat(40)];
    const api = loadApiConfig({ ...own, JOB_ENCRYPTION_OLD_KEYS: `${o1}, ${o2}`, SECRET_ENCRYPTION_OLD_KEYS: `${o2},` });
    expect(api.jobEncryptionOldKeys).toEqual([o1, o2]);
    expect(api.secretEncryptionOldKeys).toEqual([o2]);
    expect(loadMailerConfig({ JOB_ENCRYPTION_OLD_KEYS: o1 }).jobEncryptionOldKeys).toEqual([o1]);
    expect(loadApiConfig(own)).toMatchObject({ jobEncryptionOldKeys: [], secretEncryptionOldKeys: [] });
    expect(() => loadMailerConfig({ JOB_ENCRYPTION_OLD_KEYS: `${o1},short` })).toThrow(/^invalid environment:\n  JOB_ENCRYPTION_OLD_KEYS\.1: must be at least 32 characters$/);
    expect(() => loadApiConfig({ ...own, SECRET_ENCRYPTION_OLD_KEYS: 'short' })).toThrow(/^invalid environment:\n  SECRET_ENCRYPTION_OLD_KEYS\.0: must be at least 32 characters$/);
  });

  it('gives SECRET_ENCRYPTION_KEY a development value, usable on loopback only and never in production', () => {
    expect(loadApiConfig({}).secretEncryptionKey).toBe(DEV_SECRET_ENCRYPTION_KEY);
    expect(loadApiConfig(own).secretEncryptionKey).toBe('e'.repeat(32));
    const { SECRET_ENCRYPTION_KEY: _, ...withoutIt } = own;
    expect(() => loadApiConfig({ ...withoutIt, HOST: '0.0.0.0' }))
      .toThrow(/^invalid environment:\n  HOST: must be loopback .* while SECRET_ENCRYPTION_KEY is the published development value \(got "0.0.0.0"\)/);
    expect(() => loadApiConfig({ ...own, SECRET_ENCRYPTION_KEY: DEV_SECRET_ENCRYPTION_KEY, TRUST_PROXY: '1' })).toThrow(/TRUST_PROXY: .*SECRET_ENCRYPTION_KEY is the published/);
    expect(() => loadApiConfig({ ...prod, SECRET_ENCRYPTION_KEY: undefined })).toThrow(/^invalid environment:\n  SECRET_ENCRYPTION_KEY: must be set to a private value when NODE_ENV=production$/);
    expect(loadApiConfig(prod).secretEncryptionKey).toBe('e'.repeat(32));
  });

  it('accepts a published development key among the retired or verify-only keys only where it would be accepted as the current one', () => {
    const lists = { JOB_ENCRYPTION_OLD_KEYS: DEV_JOB_ENCRYPTION_KEY, SECRET_ENCRYPTION_OLD_KEYS: DEV_SECRET_ENCRYPTION_KEY, JWT_VERIFY_KEYS: DEV_JWT_PRIVATE_KEY };
    expect(loadApiConfig({ ...own, ...lists }).jwt.verifyKeyPems).toEqual([spkiOf(DEV_JWT_PRIVATE_KEY)]);
    const refusal = /^invalid environment:\n  JOB_ENCRYPTION_OLD_KEYS: holds a published development key.*\n  SECRET_ENCRYPTION_OLD_KEYS: .*\n  JWT_VERIFY_KEYS: holds a published development key, accepted only on loopback outside production: remove it$/;
    expect(() => loadApiConfig({ ...own, ...lists, HOST: '0.0.0.0' })).toThrow(refusal);
    expect(() => loadApiConfig({ ...prod, ...lists })).toThrow(refusal);
    // Its public key alone is the same key.
    expect(() => loadApiConfig({ ...prod, JWT_VERIFY_KEYS: spkiOf(DEV_JWT_PRIVATE_KEY) })).toThrow(/^invalid environment:\n  JWT_VERIFY_KEYS: holds a published/);
    expect(() => loadMailerConfig({ JOB_ENCRYPTION_KEY: own.JOB_ENCRYPTION_KEY, JOB_ENCRYPTION_OLD_KEYS: DEV_JOB_ENCRYPTION_KEY, METRICS_HOST: '0.0.0.0' }))
      .toThrow(/^invalid environment:\n  JOB_ENCRYPTION_OLD_KEYS: holds a published development key/);
  });
});
