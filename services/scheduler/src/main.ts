// services/scheduler entry point: the only file that reads process.env or handles signals.
import { createLogger, createShutdown, exitOnConfigError, loadSchedulerConfig } from '@cheershare/shared';
import { createSchedulerApp } from './app.ts';

const config = exitOnConfigError(() => loadSchedulerConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'scheduler' });
const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, exit: (code) => process.exit(code) });
const app = createSchedulerApp(config, { logger });

shutdown.add({ name: 'workers, queues, database', run: () => app.stop() });
process.on('SIGTERM', () => shutdown.begin('SIGTERM'));
process.on('SIGINT', () => shutdown.begin('SIGINT'));

try {
  await app.start();
} catch (err) {
  logger.fatal({ err }, 'could not start: is Redis reachable? (REDIS_URL)');
  process.exit(1);
}
logger.info({ concurrency: config.concurrency, timeZone: config.timeZone, schedules: config.schedules }, 'scheduler running');
