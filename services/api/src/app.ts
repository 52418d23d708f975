import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createDatabase, createLocalStorage, createQueueClient, creativeJobOptions, emailJobOptions, maintenanceJobOptions, QUEUES, startOperatorServer, systemClock,
  type OperatorServer,
  type ApiConfig, type Clock, type Logger,
} from '@cheershare/shared';
import type { Deps } from './deps.ts';
import { createAccessTokenVerifier } from './auth/access-tokens.ts';
import { loadKeyRing } from './auth/keys.ts';
import { createApiMetrics } from './metrics.ts';
import { readinessChecks } from './handlers/health.ts';
import { createServer } from './server.ts';

export interface ApiApp {
  deps: Deps;
  /** Listens on config.http and the operator port; resolves with the bound ports. */
  start(): Promise<{ port: number; operatorPort: number }>;
  /** Stops accepting, lets in-flight requests finish, then closes the queues and the pool. */
  stop(): Promise<void>;
}

/** The composition root of the API: builds every dependency from config. */
export function createApiApp(config: ApiConfig, opts: { logger: Logger; clock?: Clock; lifecycle: Deps['lifecycle'] }): ApiApp {
  const db = createDatabase({ url: config.database.url, poolMax: config.database.poolMax, applicationName: 'cheershare-api' });
  const queues = createQueueClient(config.queue, opts.logger);
  const emailQueue = queues.producer(QUEUES.email, emailJobOptions(config.email));
  const creativesQueue = queues.producer(QUEUES.creatives, creativeJobOptions());
  // For operators (Bull Board, metrics): the scheduler owns this queue's work.
  const maintenanceQueue = queues.producer(QUEUES.maintenance, maintenanceJobOptions());
  const keys = loadKeyRing(config.jwt.privateKeyPem);
  const deps: Deps = {
    config, db, queues, emailQueue, creativesQueue, maintenanceQueue,
    storage: createLocalStorage(config.storage.dir),
    logger: opts.logger,
    clock: opts.clock ?? systemClock,
    keys,
    accessTokens: createAccessTokenVerifier(keys, config.jwt),
    metrics: createApiMetrics([emailQueue, creativesQueue, maintenanceQueue]),
    lifecycle: opts.lifecycle,
  };
  let server: Server | undefined;
  let operator: OperatorServer | undefined;

  return {
    deps,
    async start() {
      // requestTimeout bounds the whole body: long enough for a 10 MB upload on a slow uplink.
      const http = createHttpServer({ requestTimeout: 300_000, headersTimeout: 10_000 }, createServer(deps));
      server = http;
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.http.port, config.http.host, () => resolve());
      });
      operator = await startOperatorServer({ ...config.operator, registry: deps.metrics.registry, readiness: () => readinessChecks(deps) });
      return { port: (http.address() as AddressInfo).port, operatorPort: operator.port };
    },
    async stop() {
      if (server) {
        const http = server;
        const closing = new Promise<void>((resolve) => http.close(() => resolve()));
        // close() drops idle keep-alive sockets only once; sockets whose request finishes later
        // would otherwise linger until their keep-alive timeout.
        const sweep = setInterval(() => http.closeIdleConnections(), 50);
        http.closeIdleConnections();
        await closing.finally(() => clearInterval(sweep));
      }
      await operator?.close();
      await queues.close();
      await db.destroy();
    },
  };
}
