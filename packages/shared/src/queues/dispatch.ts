import { UnrecoverableError, type Job } from 'bullmq';
import type { z } from 'zod';
import { JOBS, type JobData, type JobName, type QueueName } from './jobs.ts';
import type { Processor } from './backend.ts';
import { redactEmails } from '../redact.ts';

/** One processor per job name of queue `Q`, each receiving its parsed payload. */
export type Processors<Q extends QueueName> = { [N in JobName<Q>]: (job: Job, data: JobData<Q, N>) => Promise<unknown> };

/**
 * A worker's processor built from a registry: it parses each payload with the queue's schema
 * before the job's processor runs. An unknown name or a malformed payload fails at once, without
 * retries and without side effects. A failure's message has email addresses removed, since it is
 * stored as the job's failure reason for operators to read.
 */
export function dispatch<Q extends QueueName>(queue: Q, processors: Processors<Q>): Processor {
  return async (job) => {
    if (!Object.hasOwn(processors, job.name)) throw new UnrecoverableError(`unknown ${queue} job "${job.name}"`);
    const name = job.name as JobName<Q>;
    const schema = (JOBS[queue] as Record<string, z.ZodType>)[name];
    const parsed = schema?.safeParse(job.data);
    if (!parsed?.success) {
      const fields = parsed?.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      throw new UnrecoverableError(`invalid ${queue}/${name} payload: ${fields}`);
    }
    const run = processors[name] as (job: Job, data: unknown) => Promise<unknown>;
    try {
      return await run(job, parsed.data);
    } catch (err) {
      // The message becomes the job's failure reason, shown to operators: no email addresses.
      if (err instanceof Error) {
        // The stack is built from the message once read, and operator tools show it too.
        const stack = err.stack;
        err.message = redactEmails(err.message);
        if (stack !== undefined) err.stack = redactEmails(stack);
      }
      throw err;
    }
  };
}
