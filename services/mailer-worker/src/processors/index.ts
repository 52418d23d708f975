import { dispatch, type Processor } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { processCreativeLiveEmail } from './creative-live.ts';
import { processCreativeRejectedEmail } from './creative-rejected.ts';
import { processOtpEmail } from './otp.ts';

/** The `email` queue's registry: job name -> processor (payloads parsed first, see dispatch). */
export function makeEmailProcessor(deps: Deps): Processor {
  return dispatch('email', {
    'otp': processOtpEmail(deps),
    'creative-live': processCreativeLiveEmail(deps),
    'creative-rejected': processCreativeRejectedEmail(deps),
  });
}
