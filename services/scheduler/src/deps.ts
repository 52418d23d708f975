import type { Clock, Counter, Db, Logger, Producer, Registry, SchedulerConfig, Storage } from '@cheershare/shared';

/** What the scheduler's processors need, passed in explicitly. */
export interface Deps {
  config: SchedulerConfig;
  logger: Logger;
  clock: Clock;
  db: Db;
  storage: Storage;
  emailQueue: Producer<'email'>;
  metrics: { registry: Registry; images: Counter };
}
