// services/scheduler entry point: the only file that reads process.env or handles signals.
import { createLogger, createShutdown, drainOnStopSignals, exitOnConfigError, startWorkerService, loadSchedulerConfig, reportReady } from '@cheershare/shared';
import { createSchedulerApp } from './app.ts';

const config = exitOnConfigError(() => loadSchedulerConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'scheduler' });
const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, exit: (code) => process.exit(code) });
const app = createSchedulerApp(config, { logger });

shutdown.add({ name: 'workers, queues, database', run: () => app.stop() });
drainOnStopSignals(shutdown, process);

const operatorPort = await startWorkerService(app, logger, (code) => process.exit(code));
logger.info({ concurrency: config.concurrency, timeZone: config.timeZone, schedules: config.schedules, queues: app.queues.description, operatorPort }, 'scheduler running');
reportReady(process, { operatorPort });
