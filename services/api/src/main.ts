// services/api entry point: the only file that reads process.env or handles signals.
import { createLogger, createShutdown, exitOnConfigError, loadApiConfig } from '@cheershare/shared';
import { createApiApp } from './app.ts';

const config = exitOnConfigError(() => loadApiConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'api' });
const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, exit: (code) => process.exit(code) });
const app = createApiApp(config, { logger, lifecycle: shutdown });

shutdown.add({ name: 'http server, queue, redis, database', run: () => app.stop() });
process.on('SIGTERM', () => shutdown.begin('SIGTERM'));
process.on('SIGINT', () => shutdown.begin('SIGINT'));

const port = await app.start();
logger.info({ port, host: config.http.host }, 'api listening');
