import { dispatch, type Processor } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { processCreative } from './process-creative.ts';
import { runDailyDigest } from './daily-digest.ts';
import { runCleanup } from './cleanup.ts';

/** The `creatives` queue's registry: job name -> processor (payloads parsed first, see dispatch). */
export function makeCreativesProcessor(deps: Deps): Processor {
  return dispatch('creatives', { process: processCreative(deps) });
}

/** The `maintenance` queue's registry: the recurring jobs this service schedules. */
export function makeMaintenanceProcessor(deps: Deps): Processor {
  return dispatch('maintenance', {
    'daily-digest': runDailyDigest(deps),
    'cleanup': runCleanup(deps),
  });
}
