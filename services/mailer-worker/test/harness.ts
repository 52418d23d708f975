import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import {
  createLogger, createQueueClient, emailJobOptions, hashOtpCode, jobIds, loadMailerConfig, seal,
  type EmailDelivery, type Logger, type MailerConfig, type Producer,
} from '@cheershare/shared';
import { startSmtpSink, testEnv, type SmtpSink } from '@cheershare/shared/testing';
import { createMailerApp, type MailerApp } from '../src/app.ts';

export interface MailerHarness {
  sink: SmtpSink;
  config: MailerConfig;
  mailer: MailerApp;
  /** Produces to the same queue the mailer consumes, as the api and scheduler do. */
  producer: Producer<'email'>;
  /**
   * Issues a sign-in code as the API does: a challenge row, and a job carrying the code sealed by
   * `sealCode` (default: this mailer's JOB_ENCRYPTION_KEY), queued unless `enqueue` is false.
   */
  issueCode(email: string, opts?: IssueOptions): Promise<IssuedCode>;
  /** Waits until the delivery row of `jobId` satisfies `until`. */
  delivery(jobId: string, until: (d: EmailDelivery) => boolean, timeoutMs?: number): Promise<EmailDelivery>;
  /** Waits until the job is completed or failed, and returns it as stored then. */
  finishedJob(jobId: string): Promise<Job>;
  close(): Promise<void>;
}

export interface IssueOptions {
  ttlMs?: number;
  createdAt?: Date;
  suppressed?: boolean;
  enqueue?: boolean;
  sealCode?: (code: string, challengeId: string) => string;
}

export interface IssuedCode {
  id: string;
  code: string;
  jobId: string;
  data: { challengeId: string; sealedCode: string };
  enqueue(): Promise<void>;
}

/** The real mailer worker against this run's PostgreSQL and queue store and an in-process SMTP server. */
export async function startMailer(
  name: string,
  opts: { env?: (base: Record<string, string>) => Record<string, string>; logger?: Logger } = {},
): Promise<MailerHarness> {
  const sink = await startSmtpSink();
  const base = await testEnv({ SMTP_URL: sink.url, EMAIL_BACKOFF_MS: '50', EMAIL_ATTEMPTS: '8' });
  const config = loadMailerConfig(opts.env ? { ...base, ...opts.env(base) } : base);
  const mailer = createMailerApp(config, { logger: opts.logger ?? createLogger({ level: 'silent', name }) });
  const queues = createQueueClient(config.queue);
  const producer = queues.producer('email', emailJobOptions(config.email));
  const pause = () => new Promise((r) => setTimeout(r, 50));

  return {
    sink, config, mailer, producer,
    async issueCode(email, o = {}) {
      const id = randomUUID();
      const code = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
      const createdAt = o.createdAt ?? new Date();
      await mailer.deps.db.insertInto('otp_challenges').values({
        id, email, mailbox: email, name: null, code_hash: hashOtpCode('irrelevant', id, code), created_at: createdAt, suppressed: o.suppressed ?? false,
        expires_at: new Date(createdAt.getTime() + (o.ttlMs ?? 600_000)),
      }).execute();
      const jobId = jobIds.otpEmail(id);
      const data = { challengeId: id, sealedCode: (o.sealCode ?? ((c, cid) => seal(config.jobEncryptionKey, c, cid)))(code, id) };
      const enqueue = () => producer.add('otp', data, { jobId });
      if (o.enqueue !== false) await enqueue();
      return { id, code, jobId, data, enqueue };
    },
    async delivery(jobId, until, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const row = await mailer.deps.db.selectFrom('email_deliveries').selectAll().where('job_id', '=', jobId).executeTakeFirst();
        if (row && until(row)) return row;
        if (Date.now() > deadline) throw new Error(`delivery ${jobId}: ${JSON.stringify(row)}`);
        await pause();
      }
    },
    async finishedJob(jobId) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const state = await (await producer.getJob(jobId))?.getState();
        // Read the job again once final: a copy fetched before may predate the outcome.
        if (state === 'completed' || state === 'failed') return (await producer.getJob(jobId)) as Job;
        if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish (state ${state})`);
        await pause();
      }
    },
    async close() {
      await mailer.stop();
      await producer.obliterate();
      await queues.close();
      await sink.close();
    },
  };
}
