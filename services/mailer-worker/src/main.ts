// services/mailer-worker entry point: the only file that reads process.env or handles signals.
import { createLogger, createShutdown, drainOnStopSignals, exitOnConfigError, loadMailerConfig, reportReady } from '@cheershare/shared';
import { createMailerApp } from './app.ts';

const config = exitOnConfigError(() => loadMailerConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'mailer-worker' });
const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, exit: (code) => process.exit(code) });
const app = createMailerApp(config, { logger });

shutdown.add({ name: 'worker, smtp, database', run: () => app.stop() });
drainOnStopSignals(shutdown, process);

let operatorPort: number;
try {
  operatorPort = await app.start();
} catch (err) {
  logger.fatal({ err, queues: app.queues.description }, 'could not start: is the queue store reachable and migrated? (npm run migrate)');
  process.exit(1);
}
for (const warning of await app.queues.durabilityWarnings()) logger.warn({ queues: app.queues.description }, `QUEUE STORE CAN LOSE JOBS: ${warning}`);
logger.info({ queue: app.worker.name, concurrency: config.concurrency, queues: app.queues.description, operatorPort }, 'mailer-worker running');
reportReady(process, { operatorPort });
