import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { dispatch } from '../src/index.ts';

describe('dispatch', () => {
  it('takes email addresses out of a failure before it becomes the job\'s failure reason and stack trace', async () => {
    const processor = dispatch('creatives', {
      process: () => {
        const err = new Error('recipient <victim@example.com> refused');
        // Drivers read the stack as they build errors; Node then keeps it as it was.
        void err.stack;
        throw err;
      },
    });
    const job = { name: 'process', data: { creativeId: '5f0c4c0e-5d3c-4a47-9c59-0d4a1c7a9a11' } } as unknown as Job;
    const failure = (await processor(job).catch((e: unknown) => e)) as Error;
    expect(failure.message).toBe('recipient <[email]> refused');
    expect(failure.stack).toContain('recipient <[email]> refused');
    expect(failure.stack).not.toContain('victim@example.com');
  });
});
