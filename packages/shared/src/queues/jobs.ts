import { z } from 'zod';

/** Every queue, by name. */
export const QUEUES = { email: 'email', creatives: 'creatives', maintenance: 'maintenance' } as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

/** `email` / `otp`: the code travels sealed (see crypto.seal); the recipient is read from the challenge row. */
export const OtpEmailJob = z.object({
  challengeId: z.uuid(),
  sealedCode: z.string().min(1).max(512),
});

/** `email` / `creative-live`: one per owner and day; the mailer reads which creatives from the database. */
export const CreativeLiveEmailJob = z.object({ userId: z.uuid(), day: Day });

/** `email` / `creative-rejected`: tells the owner why an upload was not accepted. */
export const CreativeRejectedEmailJob = z.object({ creativeId: z.uuid() });

/** `creatives` / `process`: validate and normalise one upload. */
export const ProcessCreativeJob = z.object({ creativeId: z.uuid() });

/** `maintenance` / `daily-digest`: `day` defaults to today in APP_TIMEZONE (an operator may pass one). */
export const DailyDigestJob = z.object({ day: Day.optional() });

/** `maintenance` / `cleanup`. */
export const CleanupJob = z.object({});

/**
 * The job registry: queue name -> job name -> payload schema. Producers are typed by it and
 * processors parse with it before they run, so a malformed payload fails before any side effect.
 */
export const JOBS = {
  email: { 'otp': OtpEmailJob, 'creative-live': CreativeLiveEmailJob, 'creative-rejected': CreativeRejectedEmailJob },
  creatives: { process: ProcessCreativeJob },
  maintenance: { 'daily-digest': DailyDigestJob, 'cleanup': CleanupJob },
} satisfies Record<QueueName, Record<string, z.ZodType>>;

export type JobName<Q extends QueueName> = keyof (typeof JOBS)[Q] & string;
export type JobData<Q extends QueueName, N extends JobName<Q>> = z.output<(typeof JOBS)[Q][N] & z.ZodType>;

/**
 * Deterministic job ids: the same subject always maps to the same job, so a retried request or a
 * re-run cannot queue (or send) twice. BullMQ forbids ':' in custom ids.
 */
export const jobIds = {
  otpEmail: (challengeId: string) => `otp-${challengeId}`,
  creativeLive: (userId: string, day: string) => `creative-live-${userId}-${day}`,
  creativeRejected: (creativeId: string) => `creative-rejected-${creativeId}`,
  processCreative: (creativeId: string) => `creative-${creativeId}`,
};

/** Ids of the recurring jobs the scheduler service upserts. */
export const SCHEDULER_IDS = { dailyDigest: 'daily-digest', cleanup: 'cleanup' } as const;
