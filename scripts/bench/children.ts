import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** A process the harness started: its output kept for error messages, its exit awaited. */
export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Every line it printed, stdout and stderr together. */
  lines: string[];
  /** Calls `listener` with each line printed from now on. */
  onLine(listener: (line: string) => void): void;
  exited: Promise<number | null>;
  /** Resolves with the first `{ type: 'ready' }` IPC message (services' reportReady, the bench's own children). */
  ready<T = Record<string, unknown>>(timeoutMs?: number): Promise<T>;
  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. Resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** The last lines it printed, for error messages. */
  tail(n?: number): string;
}

export interface Children {
  /** `node <entry> ...args` with an IPC channel; the child stops itself when the channel closes. */
  node(name: string, entry: string, args: string[], env: Record<string, string>): Child;
  /** Any program (wrk). */
  run(name: string, command: string, args: string[], env?: Record<string, string>): Child;
  /** Stops every child still running, all at once. */
  stopAll(): Promise<void>;
}

/**
 * Every child runs in its own session (detached), as `npm start` runs its services: a terminal's
 * Ctrl-C reaches only the harness, which stops each child once, in order. A service that got the
 * terminal's SIGINT and then the harness's SIGTERM would take the second as "force exit".
 */
export function makeChildren(): Children {
  const live = new Set<Child>();

  function track(name: string, proc: ChildProcess): Child {
    const lines: string[] = [];
    const listeners: ((line: string) => void)[] = [];
    const onLine = (line: string) => {
      lines.push(line);
      for (const listener of listeners) listener(line);
    };
    for (const stream of [proc.stdout, proc.stderr]) if (stream) createInterface({ input: stream }).on('line', onLine);
    const exited = once(proc, 'exit').then(([code]) => code as number | null);
    const tail = (n = 20) => lines.slice(-n).join('\n');
    const child: Child = {
      name, proc, lines, exited, tail,
      onLine: (listener) => void listeners.push(listener),
      pid: proc.pid ?? 0,
      ready<T>(timeoutMs = 30_000) {
        return new Promise<T>((resolve, reject) => {
          const timer = setTimeout(() => fail(new Error(`${name} did not report ready within ${timeoutMs} ms:\n${tail()}`)), timeoutMs);
          const onMessage = (m: { type?: string }) => {
            if (m?.type !== 'ready') return;
            cleanup();
            resolve(m as T);
          };
          const onExit = (code: number | null) => fail(new Error(`${name} exited (${code}) before it was ready:\n${tail()}`));
          const fail = (err: Error) => {
            cleanup();
            reject(err);
          };
          const cleanup = () => {
            clearTimeout(timer);
            proc.off('message', onMessage);
            proc.off('exit', onExit);
          };
          proc.on('message', onMessage);
          proc.on('exit', onExit);
        });
      },
      async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill(signal);
          const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
          try {
            await exited;
          } finally {
            clearTimeout(timer);
          }
        }
        return proc.exitCode;
      },
    };
    live.add(child);
    void exited.then(() => live.delete(child));
    proc.on('error', (err) => lines.push(`${name}: ${err.message}`));
    return child;
  }

  return {
    node(name, entry, args, env) {
      const proc = spawn(process.execPath, [entry, ...args], {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        detached: true,
      });
      return track(name, proc);
    },
    run(name, command, args, env) {
      const proc = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      return track(name, proc);
    },
    async stopAll() {
      await Promise.all([...live].map((c) => c.stop('SIGTERM', 10_000)));
    },
  };
}
