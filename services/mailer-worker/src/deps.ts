import type { Transporter } from 'nodemailer';
import type { Clock, Counter, Db, Logger, MailerConfig, Registry, SecretBox } from '@cheershare/shared';

/** What processors need, passed in explicitly. */
export interface Deps {
  config: MailerConfig;
  logger: Logger;
  clock: Clock;
  db: Db;
  transport: Transporter;
  /** Opens what the api sealed in jobs: JOB_ENCRYPTION_KEY, or one of JOB_ENCRYPTION_OLD_KEYS. */
  jobSeal: SecretBox;
  metrics: { registry: Registry; emails: Counter };
}
