// services/scheduler entry point: the only file that reads process.env or handles signals.
import { createLogger, createShutdown, drainOnStopSignals, exitOnConfigError, loadSchedulerConfig, reportReady } from '@cheershare/shared';
import { createSchedulerApp } from './app.ts';

const config = exitOnConfigError(() => loadSchedulerConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'scheduler' });
const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, exit: (code) => process.exit(code) });
const app = createSchedulerApp(config, { logger });

shutdown.add({ name: 'workers, queues, database', run: () => app.stop() });
drainOnStopSignals(shutdown, process);

let operatorPort: number;
try {
  operatorPort = await app.start();
} catch (err) {
  logger.fatal({ err, queues: app.queues.description }, 'could not start: is the queue store reachable and migrated? (npm run migrate)');
  process.exit(1);
}
for (const warning of await app.queues.durabilityWarnings()) logger.warn({ queues: app.queues.description }, `QUEUE STORE CAN LOSE JOBS: ${warning}`);
logger.info({ concurrency: config.concurrency, timeZone: config.timeZone, schedules: config.schedules, queues: app.queues.description, operatorPort }, 'scheduler running');
reportReady(process, { operatorPort });
