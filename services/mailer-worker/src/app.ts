import type { Worker } from 'bullmq';
import {
  counter, createDatabase, createQueueClient, databaseWritable, createRegistry, createSecretBox, emailJobOptions, instrumentWorker, probe, QUEUES,
  JOBS, registerQueueDepth, startOperatorServer, systemClock, withDeadline, type Clock, type Logger, type MailerConfig, type OperatorServer, type QueueClient,
} from '@cheershare/shared';
import type { Deps } from './deps.ts';
import { createSmtpTransport } from './mail/transport.ts';
import { makeEmailProcessor } from './processors/index.ts';

export interface MailerApp {
  deps: Deps;
  worker: Worker;
  queues: QueueClient;
  /** Waits until the worker is fetching and opens the operator port; resolves with its port. */
  start(): Promise<number>;
  /** Stops fetching, waits for active deliveries, then closes SMTP, the queue connection and the pool. */
  stop(): Promise<void>;
}

/** The composition root of the mailer worker. The worker starts fetching at once. */
export function createMailerApp(config: MailerConfig, opts: { logger: Logger; clock?: Clock }): MailerApp {
  const { logger } = opts;
  const registry = createRegistry('mailer-worker');
  const deps: Deps = {
    config, logger,
    clock: opts.clock ?? systemClock,
    db: createDatabase({ ...config.database, applicationName: 'cheershare-mailer' }),
    // More jobs in flight than SMTP connections: database work of some overlaps the sends of others.
    transport: createSmtpTransport({ url: config.smtp.url, timeoutMs: config.smtp.timeoutMs, maxConnections: config.smtp.maxConnections }),
    jobSeal: createSecretBox(config.jobEncryptionKey, config.jobEncryptionOldKeys),
    metrics: {
      registry,
      emails: counter(registry, 'cheershare_emails_total', 'Emails by kind and outcome: sent, retried, failed (permanently), skipped, uncertain (the server may have it: sent again for codes, not for digests).', ['kind', 'outcome']),
    },
  };
  // Every series exists from the start, so rates and alerts work before the first event.
  for (const kind of Object.keys(JOBS.email)) for (const outcome of ['sent', 'retried', 'failed', 'skipped', 'uncertain']) deps.metrics.emails.inc({ kind, outcome }, 0);
  const queues = createQueueClient(config.queue, logger);
  const worker = queues.worker(QUEUES.email, makeEmailProcessor(deps), {
    concurrency: config.concurrency, lockDuration: config.worker.lockMs, stalledInterval: config.worker.stalledIntervalMs,
  });
  worker.on('completed', (job, result) => logger.info({ jobId: job.id, name: job.name, result }, 'email job done'));
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, name: job?.name, attemptsMade: job?.attemptsMade, error: err.message }, 'email job failed'));
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  instrumentWorker(registry, worker);
  registerQueueDepth(registry, [queues.producer(QUEUES.email, emailJobOptions(config.email))]);
  let operator: OperatorServer | undefined;
  // Ready only while the worker is consuming and its stores answer.
  const readiness = async () => {
    const [database, queue] = await Promise.all([probe(() => databaseWritable(deps.db)), probe(() => queues.writable())]);
    return { database, queue, consuming: worker.isRunning() && !worker.closing };
  };

  return {
    deps,
    worker,
    queues,
    async start() {
      // A Redis worker retries its connection for ever: do not wait for ever to say so.
      await withDeadline(worker.waitUntilReady(), 15_000, `the queue store did not answer within 15 s (${queues.description})`);
      operator = await startOperatorServer({ ...config.operator, registry, readiness });
      return operator.port;
    },
    async stop() {
      await queues.stopWorker(worker);
      await operator?.close();
      await queues.close();
      deps.transport.close();
      await deps.db.destroy();
    },
  };
}
