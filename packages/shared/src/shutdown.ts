import type { Logger } from 'pino';

export interface ShutdownStep {
  name: string;
  /** Gets what began the drain (`SIGTERM`, `SIGINT`, `runner exited`): a step may act on it. */
  run: (reason: string) => Promise<unknown>;
}

export interface Shutdown {
  /** True from the first signal on; readiness checks read it. */
  readonly draining: boolean;
  /** Steps run in registration order: stop intake first, close connections last. */
  add(step: ShutdownStep): void;
  /** Call from a signal handler. The first call drains; a second one forces exit. */
  begin(reason: string): void;
}

/**
 * Graceful shutdown: on the first signal run every step in order within `graceMs`, then
 * `exit(0)`. A step that fails, the grace timeout, or a second signal exits non-zero.
 */
export function createShutdown(opts: { logger: Logger; graceMs: number; exit: (code: number) => void }): Shutdown {
  const { logger, graceMs, exit } = opts;
  const steps: ShutdownStep[] = [];
  let draining = false;

  async function drain(reason: string): Promise<void> {
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown grace period elapsed, forcing exit');
      exit(1);
    }, graceMs);
    timer.unref();
    let failed = false;
    for (const step of steps) {
      try {
        await step.run(reason);
        logger.debug({ step: step.name }, 'shutdown step done');
      } catch (err) {
        failed = true;
        logger.error({ err, step: step.name }, 'shutdown step failed');
      }
    }
    clearTimeout(timer);
    logger.info({ reason }, failed ? 'stopped with errors' : 'stopped cleanly');
    exit(failed ? 1 : 0);
  }

  return {
    get draining() {
      return draining;
    },
    add(step) {
      steps.push(step);
    },
    begin(reason) {
      if (draining) {
        logger.warn({ reason }, 'second signal, forcing exit');
        exit(1);
        return;
      }
      draining = true;
      logger.info({ reason, graceMs }, 'draining');
      void drain(reason);
    },
  };
}

/**
 * Begins the drain on SIGTERM and SIGINT, and when the runner that started this process (`npm
 * start`) goes away however it ended, even killed: its IPC channel then closes. So a service never
 * outlives its runner and the next start never finds the ports taken.
 */
export function drainOnStopSignals(shutdown: Shutdown, proc: NodeJS.Process): void {
  proc.on('SIGTERM', () => shutdown.begin('SIGTERM'));
  proc.on('SIGINT', () => shutdown.begin('SIGINT'));
  if (!proc.send) return;
  // Already draining (the runner relayed a signal, then died): that is not a second signal.
  const runnerGone = () => {
    if (!shutdown.draining) shutdown.begin('runner exited');
  };
  proc.on('disconnect', runnerGone);
  // The runner may have gone while this process was still starting.
  if (!proc.connected) runnerGone();
}

/** Tells the runner that started this process (if any) that it is ready, and where. */
export function reportReady(proc: NodeJS.Process, details: Record<string, unknown> = {}): void {
  // A runner that is gone cannot be told; the disconnect handler is already draining.
  if (proc.send && proc.connected) proc.send({ type: 'ready', ...details }, () => {});
}
