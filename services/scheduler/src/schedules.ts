import { maintenanceJobOptions, SCHEDULER_IDS, type Producer, type SchedulerConfig } from '@cheershare/shared';

type Timing = { pattern: string; tz: string };

/** A recurring job whose timing in the queue store is not this scheduler's. */
export interface ScheduleDisagreement {
  id: string;
  ours: Timing;
  theirs: { pattern?: string | undefined; tz?: string | undefined; every?: number | undefined };
}

function wanted(config: SchedulerConfig) {
  const tz = config.timeZone;
  return [
    { id: SCHEDULER_IDS.dailyDigest, name: 'daily-digest' as const, timing: { pattern: config.schedules.digest, tz } },
    { id: SCHEDULER_IDS.cleanup, name: 'cleanup' as const, timing: { pattern: config.schedules.cleanup, tz } },
  ];
}

/**
 * Creates or replaces the recurring jobs with this scheduler's settings, whatever the store holds:
 * called at start, so the most recently started scheduler's settings are the ones in force (a
 * rolling deploy moves every replica to the new settings). Returns what it replaced, so a
 * disagreement is logged rather than silent. Each call passes the full template, since an upsert
 * replaces it.
 */
export async function upsertSchedules(maintenance: Producer<'maintenance'>, config: SchedulerConfig): Promise<ScheduleDisagreement[]> {
  const replaced = await disagreements(maintenance, config);
  const opts = maintenanceJobOptions();
  for (const { id, name, timing } of wanted(config)) await maintenance.upsertScheduler(id, timing, { name, data: {}, opts });
  return replaced;
}

/**
 * Writes back only the recurring jobs the store lost (a Redis without persistence restarted, a
 * flush). One whose timing differs was written by another scheduler that started later: it is
 * left as it is and returned, so two schedulers with different settings never take turns
 * overwriting each other; the caller reports the disagreement.
 */
export async function reassertSchedules(maintenance: Producer<'maintenance'>, config: SchedulerConfig): Promise<ScheduleDisagreement[]> {
  const differing = await disagreements(maintenance, config);
  const opts = maintenanceJobOptions();
  for (const { id, name, timing } of wanted(config)) {
    if (!differing.some((d) => d.id === id) && !(await maintenance.scheduler(id))) await maintenance.upsertScheduler(id, timing, { name, data: {}, opts });
  }
  return differing;
}

async function disagreements(maintenance: Producer<'maintenance'>, config: SchedulerConfig): Promise<ScheduleDisagreement[]> {
  const found: ScheduleDisagreement[] = [];
  for (const { id, timing } of wanted(config)) {
    const theirs = await maintenance.scheduler(id);
    if (theirs && (theirs.pattern !== timing.pattern || theirs.tz !== timing.tz || theirs.every !== undefined)) found.push({ id, ours: timing, theirs });
  }
  return found;
}
