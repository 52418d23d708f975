import { z } from 'zod';

/** Every queue, by name. */
export const QUEUES = { email: 'email' } as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** `email` / `otp`: the code travels sealed (see crypto.seal); the recipient is read from the challenge row. */
export const OtpEmailJob = z.object({
  challengeId: z.uuid(),
  sealedCode: z.string().min(1).max(512),
});

/**
 * The job registry: queue name -> job name -> payload schema. Producers are typed by it and
 * processors parse with it before they run, so a malformed payload fails before any side effect.
 */
export const JOBS = {
  email: { otp: OtpEmailJob },
} satisfies Record<QueueName, Record<string, z.ZodType>>;

export type JobName<Q extends QueueName> = keyof (typeof JOBS)[Q] & string;
export type JobData<Q extends QueueName, N extends JobName<Q>> = z.output<(typeof JOBS)[Q][N] & z.ZodType>;

/** Deterministic job ids: the same subject always maps to the same job, so a re-run cannot send twice. */
export const jobIds = {
  otpEmail: (challengeId: string) => `otp-${challengeId}`,
};
