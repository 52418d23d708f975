import { UnrecoverableError, type Job } from 'bullmq';
import { JOBS, type Processor } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { processOtpEmail } from './otp.ts';

/**
 * The `email` queue's job registry: job name -> processor. Each payload is parsed with its
 * schema first; an unknown name or a malformed payload fails at once, without retries.
 */
export function makeEmailProcessor(deps: Deps): Processor {
  const processors = {
    otp: processOtpEmail(deps),
  } satisfies { [N in keyof typeof JOBS.email]: (job: Job, data: never) => Promise<unknown> };

  return async (job) => {
    if (!Object.hasOwn(processors, job.name)) throw new UnrecoverableError(`unknown email job "${job.name}"`);
    const name = job.name as keyof typeof processors;
    const parsed = JOBS.email[name].safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid ${name} payload: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
    return processors[name](job, parsed.data);
  };
}
