import type { Worker } from 'bullmq';
import { createDatabase, createWorker, QUEUES, systemClock, type Clock, type Logger, type MailerConfig } from '@cheershare/shared';
import type { Deps } from './deps.ts';
import { createSmtpTransport } from './mail/transport.ts';
import { makeEmailProcessor } from './processors/index.ts';

export interface MailerApp {
  deps: Deps;
  worker: Worker;
  /** Stops fetching, waits for active deliveries, then closes SMTP, Redis and the pool. */
  stop(): Promise<void>;
}

/** The composition root of the mailer worker. The worker starts fetching at once. */
export function createMailerApp(config: MailerConfig, opts: { logger: Logger; clock?: Clock }): MailerApp {
  const { logger } = opts;
  const deps: Deps = {
    config, logger,
    clock: opts.clock ?? systemClock,
    db: createDatabase({ url: config.database.url, poolMax: config.database.poolMax, applicationName: 'cheershare-mailer' }),
    transport: createSmtpTransport({ url: config.smtp.url, timeoutMs: config.smtp.timeoutMs, maxConnections: config.concurrency }),
  };
  const worker = createWorker(config.redis, QUEUES.email, makeEmailProcessor(deps), { concurrency: config.concurrency }, logger);
  worker.on('completed', (job, result) => logger.info({ jobId: job.id, name: job.name, result }, 'email job done'));
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, name: job?.name, attemptsMade: job?.attemptsMade, error: err.message }, 'email job failed'));
  worker.on('error', (err) => logger.error({ err }, 'worker error'));

  return {
    deps,
    worker,
    async stop() {
      await worker.close();
      deps.transport.close();
      await deps.db.destroy();
    },
  };
}
