import type { Transporter } from 'nodemailer';
import type { Clock, Counter, Db, Logger, MailerConfig, Registry } from '@cheershare/shared';

/** What processors need, passed in explicitly. */
export interface Deps {
  config: MailerConfig;
  logger: Logger;
  clock: Clock;
  db: Db;
  transport: Transporter;
  metrics: { registry: Registry; emails: Counter };
}
