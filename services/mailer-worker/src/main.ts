// services/mailer-worker entry point: the only file that reads process.env or handles signals.
import { createLogger, createShutdown, exitOnConfigError, loadMailerConfig } from '@cheershare/shared';
import { createMailerApp } from './app.ts';

const config = exitOnConfigError(() => loadMailerConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'mailer-worker' });
const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, exit: (code) => process.exit(code) });
const app = createMailerApp(config, { logger });

shutdown.add({ name: 'worker, smtp, database', run: () => app.stop() });
process.on('SIGTERM', () => shutdown.begin('SIGTERM'));
process.on('SIGINT', () => shutdown.begin('SIGINT'));

await app.worker.waitUntilReady();
logger.info({ queue: app.worker.name, concurrency: config.concurrency }, 'mailer-worker running');
