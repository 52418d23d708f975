import type { Transporter } from 'nodemailer';
import type { Clock, Db, Logger, MailerConfig } from '@cheershare/shared';

/** What processors need, passed in explicitly. */
export interface Deps {
  config: MailerConfig;
  logger: Logger;
  clock: Clock;
  db: Db;
  transport: Transporter;
}
