import type { Clock, Counter, Db, Logger, Producer, Registry, SchedulerConfig, Storage } from '@cheershare/shared';

/** What the scheduler's processors need, passed in explicitly. */
export interface Deps {
  config: SchedulerConfig;
  logger: Logger;
  clock: Clock;
  db: Db;
  storage: Storage;
  emailQueue: Producer<'email'>;
  /** Read by cleanup: is a creative still processing backed by a live job? */
  creativesQueue: Producer<'creatives'>;
  metrics: { registry: Registry; images: Counter };
}
