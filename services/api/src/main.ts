// services/api entry point: the only file that reads process.env or handles signals.
import { createLogger, createShutdown, drainOnStopSignals, exitOnConfigError, loadApiConfig, reportReady, warnIfJobsCanBeLost } from '@cheershare/shared';
import { createApiApp } from './app.ts';

const config = exitOnConfigError(() => loadApiConfig(process.env));
const logger = createLogger({ level: config.logLevel, name: 'api' });
const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, exit: (code) => process.exit(code) });
const app = createApiApp(config, { logger, lifecycle: shutdown });

// Only SIGTERM (docker stop, Kubernetes) comes with a load balancer to wait for; Ctrl-C on a
// service started alone (SIGINT) or a runner that went away stops without the delay.
shutdown.add({
  name: 'http server, queues, database',
  run: (reason) => app.stop({ delayMs: reason === 'SIGTERM' ? config.shutdownDelayMs : 0 }),
});
drainOnStopSignals(shutdown, process);

const { port, operatorPort } = await app.start().catch((err: NodeJS.ErrnoException) => {
  const why = err.code === 'EADDRINUSE' ? `a port is taken (PORT ${config.http.port}, METRICS_PORT ${config.operator.port}): stop what uses it or choose another` : err.message;
  logger.fatal({ host: config.http.host, port: config.http.port }, `cannot listen: ${why}`);
  process.exit(1);
});
await warnIfJobsCanBeLost(app.deps.queues, logger);
logger.info({ port, host: config.http.host, operatorPort, queues: app.deps.queues.description }, 'api listening');
reportReady(process, { port, host: config.http.host, operatorPort });
