import type { ApiConfig, Clock, Db, Logger, Producer, QueueClient, SecretBox, Storage } from '@cheershare/shared';
import type { AccessTokenVerifier } from './auth/access-tokens.ts';
import type { KeyRing } from './auth/keys.ts';
import type { ApiMetrics } from './metrics.ts';
import type { SharedLimit } from './limits/rate-limit.ts';

/** Everything the HTTP layer needs, passed in explicitly. Handlers take a `Pick` of it. */
export interface Deps {
  config: ApiConfig;
  logger: Logger;
  clock: Clock;
  db: Db;
  queues: QueueClient;
  emailQueue: Producer<'email'>;
  creativesQueue: Producer<'creatives'>;
  maintenanceQueue: Producer<'maintenance'>;
  storage: Storage;
  keys: KeyRing;
  accessTokens: AccessTokenVerifier;
  /** Seals secrets kept in the database (SECRET_ENCRYPTION_KEY; the old keys still open). */
  secrets: SecretBox;
  /** Seals what a job must carry secretly, such as the code in an otp email (JOB_ENCRYPTION_KEY). */
  jobSeal: SecretBox;
  metrics: ApiMetrics;
  /** Shared by every replica: per client (otp, verify, refresh, mfa) and for all sign-in emails. */
  limits: Record<'otp' | 'verify' | 'refresh' | 'mfa' | 'emails', SharedLimit>;
  /** Readiness reads it; true once shutdown has begun. */
  lifecycle: { readonly draining: boolean };
}
