import type { DefaultJobOptions } from 'bullmq';

/**
 * Email jobs: exponential backoff with jitter over several attempts (transient SMTP trouble),
 * completed jobs kept briefly, failed ones kept for operators.
 */
export function emailJobOptions(settings: { attempts: number; backoffMs: number }): DefaultJobOptions {
  return {
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffMs, jitter: 0.5 },
    removeOnComplete: { age: 24 * 3600, count: 1000 },
    removeOnFail: { age: 14 * 24 * 3600 },
  };
}

/** Creative processing: a few retries for transient trouble (storage, database); bad images are not retried. */
export function creativeJobOptions(): DefaultJobOptions {
  return {
    attempts: 5,
    backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
    removeOnComplete: { age: 24 * 3600, count: 1000 },
    removeOnFail: { age: 14 * 24 * 3600 },
  };
}

/** Recurring maintenance: retried a little; the next run catches up anyway. */
export function maintenanceJobOptions(): DefaultJobOptions {
  return {
    attempts: 3,
    backoff: { type: 'exponential', delay: 5_000, jitter: 0.5 },
    removeOnComplete: { age: 7 * 24 * 3600, count: 200 },
    removeOnFail: { age: 14 * 24 * 3600 },
  };
}
