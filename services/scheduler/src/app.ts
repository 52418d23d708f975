import type { Worker } from 'bullmq';
import {
  counter, createDatabase, createLocalStorage, createQueueClient, createRegistry, creativeJobOptions, emailJobOptions, instrumentWorker,
  maintenanceJobOptions, probe, QUEUES, registerQueueDepth, startOperatorServer, systemClock, withDeadline,
  type Clock, type Logger, type OperatorServer, type Producer, type QueueClient, type SchedulerConfig,
} from '@cheershare/shared';
import { sql } from 'kysely';
import type { Deps } from './deps.ts';
import { makeCreativesProcessor, makeMaintenanceProcessor } from './processors/index.ts';
import { upsertSchedules } from './schedules.ts';
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
    db: createDatabase({ url: config.database.url, poolMax: config.database.poolMax, applicationName: 'cheershare-scheduler' }),
    storage: createLocalStorage(config.storage.dir),
    emailQueue: queues.producer(QUEUES.email, emailJobOptions(config.email)),
    metrics: {
      registry,
      images: counter(registry, 'cheershare_images_total', 'Uploaded images processed: ready, or rejected with a reason.', ['outcome', 'reason']),
    },
  };
  const maintenanceQueue = queues.producer(QUEUES.maintenance, maintenanceJobOptions());
  const workers = [
    queues.worker(QUEUES.creatives, makeCreativesProcessor(deps), { concurrency: config.concurrency }),
    queues.worker(QUEUES.maintenance, makeMaintenanceProcessor(deps), { concurrency: 1 }),
  ];
  registerQueueDepth(registry, [queues.producer(QUEUES.creatives, creativeJobOptions()), maintenanceQueue]);
  // Every series exists from the start, so rates and alerts work before the first event.
  deps.metrics.images.inc({ outcome: 'ready', reason: '' }, 0);
  for (const reason of REJECTION_KINDS) deps.metrics.images.inc({ outcome: 'rejected', reason }, 0);
  let operator: OperatorServer | undefined;
  const readiness = async () => {
    const [database, queue] = await Promise.all([probe(() => sql`select 1`.execute(deps.db)), probe(() => queues.ping())]);
    return { database, queue, consuming: workers.every((w) => w.isRunning() && !w.closing) };
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
      await upsertSchedules(maintenanceQueue, config);
      await withDeadline(Promise.all(workers.map((w) => w.waitUntilReady())), 15_000, `the queue store did not answer within 15 s (${queues.description})`);
      operator = await startOperatorServer({ ...config.operator, registry, readiness });
      return operator.port;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.close()));
      await operator?.close();
      await queues.close();
      await deps.db.destroy();
    },
  };
}
