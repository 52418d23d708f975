import type { Worker } from 'bullmq';
import {
  counter, createDatabase, gauge, createStorage, createQueueClient, createRegistry, creativeJobOptions, emailJobOptions, instrumentWorker,
  JOBS, maintenanceJobOptions, databaseWritable, probe, QUEUES, registerQueueDepth, startOperatorServer, systemClock, withDeadline,
  type Clock, type Logger, type OperatorServer, type Producer, type QueueClient, type SchedulerConfig,
} from '@cheershare/shared';
import type { Deps } from './deps.ts';
import { makeCreativesProcessor, makeMaintenanceProcessor } from './processors/index.ts';
import { rejectUnprocessed } from './processors/process-creative.ts';
import { reassertSchedules, upsertSchedules, type ScheduleDisagreement } from './schedules.ts';
import { REJECTION_KINDS, restrictDecoders } from './images.ts';

export interface SchedulerApp {
  deps: Deps;
  workers: Worker[];
  maintenanceQueue: Producer<'maintenance'>;
  queues: QueueClient;
  /** Upserts the job schedulers, waits until the workers are fetching, opens the operator port (resolves with it). */
  start(): Promise<number>;
  /** Stops fetching, waits for active jobs, then closes the queues and the pool. */
  stop(): Promise<void>;
}

/** The composition root of the scheduler: creative processing plus the recurring jobs. */
export function createSchedulerApp(config: SchedulerConfig, opts: { logger: Logger; clock?: Clock }): SchedulerApp {
  const { logger } = opts;
  restrictDecoders();
  const queues = createQueueClient(config.queue, logger);
  const registry = createRegistry('scheduler');
  const deps: Deps = {
    config, logger,
    clock: opts.clock ?? systemClock,
    // Background work: cleanup's deletes may take longer than a request's 2 s; nobody waits on them.
    db: createDatabase({
      ...config.database, applicationName: 'cheershare-scheduler', timeouts: { statementMs: 60_000, queryMs: 65_000 },
    }),
    storage: createStorage(config.storage, logger),
    emailQueue: queues.producer(QUEUES.email, emailJobOptions(config.email)),
    creativesQueue: queues.producer(QUEUES.creatives, creativeJobOptions()),
    metrics: {
      registry,
      images: counter(registry, 'cheershare_images_total', 'Uploaded images processed: ready, or rejected with a reason.', ['outcome', 'reason']),
    },
  };
  const maintenanceQueue = queues.producer(QUEUES.maintenance, maintenanceJobOptions());
  const locks = { lockDuration: config.worker.lockMs, stalledInterval: config.worker.stalledIntervalMs };
  const workers = [
    queues.worker(QUEUES.creatives, makeCreativesProcessor(deps), { concurrency: config.concurrency, ...locks }),
    queues.worker(QUEUES.maintenance, makeMaintenanceProcessor(deps), { concurrency: 1, ...locks }),
  ];
  registerQueueDepth(registry, [deps.creativesQueue, maintenanceQueue]);
  // A creative job can fail for good without its processor deciding: BullMQ fails a job that
  // stalled more than once (a worker killed twice on one image) without running it again.
  const settleIfFailed = (jobId: string | undefined) => {
    if (!jobId) return;
    void (async () => {
      const job = await deps.creativesQueue.getJob(jobId);
      if (!job || (await job.getState()) !== 'failed') return;
      const parsed = JOBS.creatives.process.safeParse(job.data);
      if (parsed.success) await rejectUnprocessed(deps, parsed.data.creativeId);
    })().catch((err: unknown) => logger.warn({ err, jobId }, 'could not settle a failed creative job (cleanup will)'));
  };
  workers[0]?.on('stalled', (jobId) => settleIfFailed(jobId));
  workers[0]?.on('failed', (job) => settleIfFailed(job?.id));
  // Every series exists from the start, so rates and alerts work before the first event.
  deps.metrics.images.inc({ outcome: 'ready', reason: '' }, 0);
  for (const reason of REJECTION_KINDS) deps.metrics.images.inc({ outcome: 'rejected', reason }, 0);
  const disagreeing = gauge(registry, 'cheershare_schedule_disagreements',
    'Recurring jobs whose settings in the queue store differ from this scheduler\'s (another scheduler started later with other DIGEST_CRON, CLEANUP_CRON or APP_TIMEZONE).');
  disagreeing.set(0);
  const reportDisagreements = (found: ScheduleDisagreement[]) => {
    disagreeing.set(found.length);
    if (found.length) {
      logger.error({ disagreements: found }, 'schedulers disagree on DIGEST_CRON, CLEANUP_CRON or APP_TIMEZONE: the most recently started one wins and this one keeps its settings out of the queue store; give every scheduler the same settings');
    }
  };
  let operator: OperatorServer | undefined;
  let reassert: NodeJS.Timeout | undefined;
  const readiness = async () => {
    const storage = probe(() => deps.storage.ready()); // takes writes: a probe object put and removed
    const [database, queue] = await Promise.all([probe(() => databaseWritable(deps.db)), probe(() => queues.writable())]);
    return { database, queue, storage: await storage, consuming: workers.every((w) => w.isRunning() && !w.closing) };
  };
  for (const worker of workers) {
    instrumentWorker(registry, worker);
    worker.on('failed', (job, err) => logger.warn({ queue: worker.name, jobId: job?.id, name: job?.name, attemptsMade: job?.attemptsMade, error: err.message }, 'job failed'));
    worker.on('error', (err) => logger.error({ err, queue: worker.name }, 'worker error'));
  }

  return {
    deps,
    workers,
    maintenanceQueue,
    queues,
    async start() {
      const replaced = await upsertSchedules(maintenanceQueue, config);
      if (replaced.length) logger.warn({ replaced }, 'replaced the recurring jobs of a scheduler with other settings: the most recently started scheduler wins');
      // Written again periodically, so recurring jobs come back after the queue store lost them
      // (a Redis without persistence restarted, a flush) without restarting this service. Jobs
      // another scheduler wrote with other settings are left alone and reported, never flapped.
      reassert = setInterval(() => {
        reassertSchedules(maintenanceQueue, config).then(reportDisagreements, (err: unknown) => logger.warn({ error: (err as Error).message }, 'could not re-assert the recurring jobs (retrying)'));
      }, config.schedules.reassertMs);
      reassert.unref();
      await withDeadline(Promise.all(workers.map((w) => w.waitUntilReady())), 15_000, `the queue store did not answer within 15 s (${queues.description})`);
      operator = await startOperatorServer({ ...config.operator, registry, readiness });
      return operator.port;
    },
    async stop() {
      clearInterval(reassert);
      await Promise.all(workers.map((w) => queues.stopWorker(w)));
      await operator?.close();
      await queues.close();
      await deps.storage.close();
      await deps.db.destroy();
    },
  };
}
