import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export type LogLine = Record<string, unknown> & { msg?: string };

/** A service entry point running as a child process, with its JSON log lines collected. */
export interface ServiceProcess {
  child: ChildProcess;
  logs: LogLine[];
  /** Raw stdout and stderr, for assertions that nothing secret was printed. */
  output: string[];
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Where and how a service runs, beyond its environment. */
export interface StartServiceOptions {
  /** A command that execs `node <entry>` in place (e.g. `['ip', 'netns', 'exec', 'ns1']`), so the child's pid is node's. */
  prefix?: string[];
  /** Its working directory (default: this process's). */
  cwd?: string;
}

/** Starts `node <entry>` with `env` (on top of PATH only) and collects what it prints. */
export function startService(entry: string, env: Record<string, string>, opts: StartServiceOptions = {}): ServiceProcess {
  const [command, ...args] = [...(opts.prefix ?? []), process.execPath, entry];
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd && { cwd: opts.cwd }),
  });
  const logs: LogLine[] = [];
  const output: string[] = [];
  const listeners = new Set<() => void>();
  const onLine = (line: string) => {
    output.push(line);
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      logs.push({ msg: line });
    }
    for (const l of listeners) l();
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const exited = once(child, 'exit').then(([code]) => code as number | null);

  return {
    child,
    logs,
    output,
    exited,
    waitForLog(predicate, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(predicate);
          if (found) {
            done();
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${entry}: no matching log line within ${timeoutMs} ms; output:\n${output.slice(-20).join('\n')}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        void exited.then(() => setTimeout(() => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`${entry} exited before the expected log line; output:\n${output.slice(-20).join('\n')}`));
        }, 50));
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
