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
