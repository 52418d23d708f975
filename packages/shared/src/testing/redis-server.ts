import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A redis-server of a test's own, on a free loopback port, which the test can stop and start again. */
export interface RedisServer {
  /** redis://127.0.0.1:<port>: the same across restarts. */
  url: string;
  port: number;
  /** The working directory (the append-only file lives here). */
  dir: string;
  readonly running: boolean;
  /**
   * Stops the server: 'kill' is SIGKILL (a crash: only what was fsynced survives), 'term' is
   * SIGTERM (Redis writes its append-only file before it exits).
   */
  stop(how?: 'kill' | 'term'): Promise<void>;
  /** Starts it again on the same port and directory; with appendonly it reloads its data. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

export interface RedisServerOptions {
  /** Keep data in an append-only file across restarts (default false: a restart comes back empty). */
  appendonly?: boolean;
  /** With appendonly: 'always' fsyncs every write, so even SIGKILL loses nothing acknowledged. */
  appendfsync?: 'always' | 'everysec' | 'no';
  startTimeoutMs?: number;
  /** More arguments after the defaults (e.g. --cluster-enabled yes, --replicaof host port). */
  args?: string[];
  /**
   * A Sentinel of the test's own: this configuration file (written into the server's directory)
   * is loaded with --sentinel. Sentinel rewrites it as it learns the topology.
   */
  sentinelConfig?: string;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Starts `redis-server` (the binary must be on PATH) with no snapshots, in a temporary directory,
 * bound to 127.0.0.1. Resolves once it accepts connections.
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const { appendonly = false, appendfsync = 'always', startTimeoutMs = 10_000, args: extra = [], sentinelConfig } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'cheershare-redis-'));
  const config = join(dir, 'sentinel.conf');
  if (sentinelConfig !== undefined) writeFileSync(config, sentinelConfig);
  // A Sentinel never says "Ready to accept connections"; it is ready once it monitors its master.
  const readyLine = sentinelConfig === undefined ? 'Ready to accept connections' : '+monitor master';
  let port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const args = [
      ...(sentinelConfig === undefined ? [] : [config, '--sentinel']),
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', appendonly ? 'yes' : 'no',
      '--appendfsync', appendfsync, '--daemonize', 'no', '--logfile', '', '--protected-mode', 'no', ...extra,
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    let started = false;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${startTimeoutMs} ms:\n${output}`)), startTimeoutMs);
      // Read for as long as it runs (a full pipe would block it), keep only what precedes "ready".
      const onData = (chunk: Buffer) => {
        if (started) return;
        output += chunk.toString();
        if (output.includes(readyLine)) {
          started = true;
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`could not run redis-server (is it installed?): ${err.message}`));
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${String(code)} before it was ready:\n${output}`));
      });
    });
    await ready;
  };

  const stop = async (how: 'kill' | 'term' = 'kill') => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };

  try {
    await launch();
  } catch (err) {
    // Someone may have taken the port between the probe and the launch: one more try on another.
    await stop();
    if (!String(err).includes('Address already in use')) throw err;
    port = await freePort();
    await launch();
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get running() {
      return !!child && child.exitCode === null && child.signalCode === null;
    },
    stop,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      await launch();
    },
    async close() {
      await stop('kill');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
