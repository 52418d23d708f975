import type { Worker } from 'bullmq';
import { createDatabase, createQueueClient, QUEUES, systemClock, type Clock, type Logger, type MailerConfig, type QueueClient } from '@cheershare/shared';
import type { Deps } from './deps.ts';
import { createSmtpTransport } from './mail/transport.ts';
import { makeEmailProcessor } from './processors/index.ts';

export interface MailerApp {
  deps: Deps;
  worker: Worker;
  queues: QueueClient;
  /** Stops fetching, waits for active deliveries, then closes SMTP, the queue connection and the pool. */
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
  const queues = createQueueClient(config.queue, logger);
  const worker = queues.worker(QUEUES.email, makeEmailProcessor(deps), { concurrency: config.concurrency });
  worker.on('completed', (job, result) => logger.info({ jobId: job.id, name: job.name, result }, 'email job done'));
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, name: job?.name, attemptsMade: job?.attemptsMade, error: err.message }, 'email job failed'));
  worker.on('error', (err) => logger.error({ err }, 'worker error'));

  return {
    deps,
    worker,
    queues,
    async stop() {
      await worker.close();
      await queues.close();
      deps.transport.close();
      await deps.db.destroy();
    },
  };
}
