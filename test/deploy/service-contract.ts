// What every deployment of cheershare must give each service, whatever runs it (docker compose,
// Kubernetes): the same checks for docker-compose.yml and deploy/kubernetes.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadApiConfig, loadMailerConfig, loadMigrateConfig, loadSchedulerConfig } from '@cheershare/shared';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const APP_SERVICES = ['migrate', 'api', 'mailer-worker', 'scheduler'];

/** Each service's own config loader: it throws a ConfigError naming whatever the environment lacks. */
export const LOADERS: Record<string, (env: Record<string, string>) => unknown> = {
  'migrate': loadMigrateConfig, 'api': loadApiConfig, 'mailer-worker': loadMailerConfig, 'scheduler': loadSchedulerConfig,
};

/** The entry point each service runs (the image's entrypoint is `node`). */
export const ENTRY_POINTS: Record<string, string> = {
  'migrate': 'packages/shared/src/db/migrate-cli.ts',
  'api': 'services/api/src/main.ts',
  'mailer-worker': 'services/mailer-worker/src/main.ts',
  'scheduler': 'services/scheduler/src/main.ts',
};

/** The four secrets and the only services that may hold each. */
export const SECRET_HOLDERS: Record<string, string[]> = {
  JWT_PRIVATE_KEY: ['api'],
  OTP_HASH_SECRET: ['api'],
  SECRET_ENCRYPTION_KEY: ['api'],
  JOB_ENCRYPTION_KEY: ['api', 'mailer-worker'],
};

/** Names whose values are credentials: they come from a secret store, never written in a manifest. */
export const CREDENTIAL_NAME = /PASSWORD|SECRET|PRIVATE_KEY|ENCRYPTION|_KEYS$|_KEY_ID$/;

/** Private values of the four secrets, as an operator makes them (openssl rand, openssl genpkey). */
export function operatorSecrets(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    OTP_HASH_SECRET: randomBytes(48).toString('base64'),
    JOB_ENCRYPTION_KEY: randomBytes(48).toString('base64'),
    SECRET_ENCRYPTION_KEY: randomBytes(48).toString('base64'),
    JWT_PRIVATE_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

// Read by libraries rather than by config.ts: node-postgres, and the AWS SDK's credential chain.
const LIBRARY_VARIABLES = ['PGPASSWORD', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'testing' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Every environment variable some service reads: the keys of the config schemas in
 * packages/shared/src (written `NAME: …` at the start of a line), and the libraries' own. A name
 * outside this set is a typo or a setting nothing reads.
 */
export function knownVariables(): Set<string> {
  const names = new Set(LIBRARY_VARIABLES);
  for (const file of sourceFiles(join(ROOT, 'packages/shared/src'))) {
    for (const [, name] of readFileSync(file, 'utf8').matchAll(/^\s*([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)\s*:/gm)) names.add(name!);
  }
  return names;
}
