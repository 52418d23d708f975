import type { DefaultJobOptions } from 'bullmq';

const DAY = 24 * 3600;

/** Retries with exponential backoff and jitter; completed jobs kept briefly, failed ones for operators. */
function retried(attempts: number, delayMs: number, keepCompletedDays = 1, keepCompleted = 1000): DefaultJobOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: delayMs, jitter: 0.5 },
    removeOnComplete: { age: keepCompletedDays * DAY, count: keepCompleted },
    removeOnFail: { age: 14 * DAY },
  };
}

/** Email jobs: several attempts for transient SMTP trouble. */
export function emailJobOptions(settings: { attempts: number; backoffMs: number }): DefaultJobOptions {
  return retried(settings.attempts, settings.backoffMs);
}

/** Creative processing: a few retries for transient trouble (storage, database); bad images are not retried. */
export function creativeJobOptions(): DefaultJobOptions {
  return retried(5, 1_000);
}

/** Recurring maintenance: retried a little; the next run catches up anyway. */
export function maintenanceJobOptions(): DefaultJobOptions {
  return retried(3, 5_000, 7, 200);
}
