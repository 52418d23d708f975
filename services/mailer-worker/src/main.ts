// services/mailer-worker entry point: the only file that reads process.env or handles signals.
import { createLogger, createShutdown, drainOnStopSignals, exitOnConfigError, startWorkerService, loadMailerConfig, reportReady } from '@cheershare/shared';
import { createMailerApp } from './app.ts';

const config = exitOnConfigError(() => loadMailerConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'mailer-worker' });
const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, exit: (code) => process.exit(code) });
const app = createMailerApp(config, { logger });

shutdown.add({ name: 'worker, smtp, database', run: () => app.stop() });
drainOnStopSignals(shutdown, process);

const operatorPort = await startWorkerService(app, logger, (code) => process.exit(code));
logger.info({ queue: app.worker.name, concurrency: config.concurrency, queues: app.queues.description, operatorPort }, 'mailer-worker running');
reportReady(process, { operatorPort });
