import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createDatabase, createStorage, createQueueClient, createSecretBox, creativeJobOptions, emailJobOptions, maintenanceJobOptions, QUEUES, startOperatorServer, systemClock,
  type OperatorServer,
  type ApiConfig, type Clock, type Logger,
} from '@cheershare/shared';
import type { Deps } from './deps.ts';
import { createAccessTokenVerifier } from './auth/access-tokens.ts';
import { loadKeyRing } from './auth/keys.ts';
import { createApiMetrics } from './metrics.ts';
import { sharedLimit } from './limits/rate-limit.ts';
import { readinessChecks } from './handlers/health.ts';
import { createServer } from './server.ts';
import { capConnectionsPerClient, trustedProxies } from './limits/connection-cap.ts';

// Every route: the request line and headers are small and come at once from any honest client.
const HEADERS_TIMEOUT_MS = 10_000;

/**
 * Requests Node refuses before Express sees them (malformed HTTP, smuggling attempts, oversized
 * headers, the backstop request timeout) get the one error shape too, not a bare status line.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, code, message] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'headers_too_large', 'The request headers are too large.']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'The request took too long to arrive.']
      : [400, 'bad_request', 'The request is not valid HTTP.'];
  const body = JSON.stringify({ error: { code, message } });
  // As Node's own handler does: the parser has stopped reading, so answer and close at once.
  if (socket.bytesWritten === 0) {
    socket.write([
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, 'Content-Type: application/json; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`,
      `X-Request-Id: ${randomUUID()}`, 'X-Content-Type-Options: nosniff', 'Cache-Control: no-store', 'Connection: close', '', body,
    ].join('\r\n'));
  }
  socket.destroy();
}

export interface ApiApp {
  deps: Deps;
  /** Listens on config.http and the operator port; resolves with the bound ports. */
  start(): Promise<{ port: number; operatorPort: number }>;
  /**
   * Keeps serving for `delayMs` (readiness already answers 503), then stops accepting, lets
   * in-flight requests finish, and closes the queues and the pool.
   */
  stop(opts?: { delayMs?: number }): Promise<void>;
  /** The HTTP server once started (tests read its limits). */
  readonly server: Server | undefined;
}

/** The composition root of the API: builds every dependency from config. */
export function createApiApp(config: ApiConfig, opts: { logger: Logger; clock?: Clock; lifecycle: Deps['lifecycle'] }): ApiApp {
  const db = createDatabase({ ...config.database, applicationName: 'cheershare-api' });
  const queues = createQueueClient(config.queue, opts.logger);
  const emailQueue = queues.producer(QUEUES.email, emailJobOptions(config.email));
  const creativesQueue = queues.producer(QUEUES.creatives, creativeJobOptions());
  // For operators (Bull Board, metrics): the scheduler owns this queue's work.
  const maintenanceQueue = queues.producer(QUEUES.maintenance, maintenanceJobOptions());
  const keys = loadKeyRing(config.jwt.privateKeyPem, config.jwt.verifyKeyPems);
  const metrics = createApiMetrics([emailQueue, creativesQueue, maintenanceQueue]);
  const limit = (name: string, points: number, window: number, advertised = true) =>
    sharedLimit(queues, { name, points, window }, { advertised, refused: () => metrics.rateLimited.inc({ limit: name }) });
  const { clientLimits } = config;
  const deps: Deps = {
    config, db, queues, emailQueue, creativesQueue, maintenanceQueue,
    storage: createStorage(config.storage, opts.logger),
    logger: opts.logger,
    clock: opts.clock ?? systemClock,
    keys,
    accessTokens: createAccessTokenVerifier(keys, config.jwt),
    secrets: createSecretBox(config.secretEncryptionKey, config.secretEncryptionOldKeys),
    jobSeal: createSecretBox(config.jobEncryptionKey, config.jobEncryptionOldKeys),
    metrics,
    limits: {
      otp: limit('otp', clientLimits.otp, clientLimits.window),
      verify: limit('verify', clientLimits.verify, clientLimits.window),
      refresh: limit('refresh', clientLimits.refresh, clientLimits.window),
      mfa: limit('mfa', clientLimits.mfa, clientLimits.window),
      emails: limit('emails', config.emailsPerMinute, 60, false),
    },
    lifecycle: opts.lifecycle,
  };
  let server: Server | undefined;
  let operator: OperatorServer | undefined;

  return {
    deps,
    get server() {
      return server;
    },
    async start() {
      const handler = createServer(deps);
      const { bodyTimeoutMs, uploadTimeoutMs, maxConnectionsPerClient } = config.http;
      const http = createHttpServer({
        headersTimeout: HEADERS_TIMEOUT_MS,
        // Bodies have per-route deadlines (bodyDeadline: a 408 in the one error shape); this one,
        // counted from the first byte of the headers, is only the backstop behind the longest.
        requestTimeout: HEADERS_TIMEOUT_MS + Math.max(bodyTimeoutMs, uploadTimeoutMs),
        // Node checks both deadlines only this often (default 30 s), stretching the headers' 10 s to 40.
        connectionsCheckingInterval: 1_000,
      }, handler);
      http.on('clientError', answerClientError);
      capConnectionsPerClient(http, { max: maxConnectionsPerClient, exempt: trustedProxies(handler), refused: () => deps.metrics.connectionsRefused.inc() });
      server = http;
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.http.port, config.http.host, () => resolve());
      });
      operator = await startOperatorServer({ ...config.operator, registry: deps.metrics.registry, readiness: () => readinessChecks(deps) });
      return { port: (http.address() as AddressInfo).port, operatorPort: operator.port };
    },
    async stop({ delayMs = 0 } = {}) {
      if (server) {
        const http = server;
        if (delayMs > 0) {
          // Load balancers need a moment to see /readyz fail; until then they still send requests
          // here, and closing now would reset those waiting to be accepted. Answers carry
          // Connection: close meanwhile, so keep-alive clients move on after their current request.
          opts.logger.info({ delayMs }, 'draining: still accepting until load balancers notice');
          await sleep(delayMs);
        }
        const closing = new Promise<void>((resolve) => http.close(() => resolve()));
        opts.logger.info('stopped accepting connections');
        // close() drops idle keep-alive sockets only once; sockets whose request finishes later
        // would otherwise linger until their keep-alive timeout.
        const sweep = setInterval(() => http.closeIdleConnections(), 50);
        http.closeIdleConnections();
        await closing.finally(() => clearInterval(sweep));
      }
      await operator?.close();
      await queues.close();
      await deps.storage.close();
      await db.destroy();
    },
  };
}
