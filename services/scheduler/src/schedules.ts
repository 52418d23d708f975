import { maintenanceJobOptions, SCHEDULER_IDS, type Producer, type SchedulerConfig } from '@cheershare/shared';

/**
 * Creates or updates the recurring jobs. upsertJobScheduler is idempotent, so every start and
 * every replica can call it; each call passes the full template, since an upsert replaces it.
 */
export async function upsertSchedules(maintenance: Producer<'maintenance'>, config: SchedulerConfig): Promise<void> {
  const tz = config.timeZone;
  const opts = maintenanceJobOptions();
  await maintenance.upsertScheduler(SCHEDULER_IDS.dailyDigest, { pattern: config.schedules.digest, tz }, { name: 'daily-digest', data: {}, opts });
  await maintenance.upsertScheduler(SCHEDULER_IDS.cleanup, { pattern: config.schedules.cleanup, tz }, { name: 'cleanup', data: {}, opts });
}
