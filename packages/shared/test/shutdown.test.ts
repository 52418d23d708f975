import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { createLogger, createShutdown, drainOnStopSignals } from '../src/index.ts';

const logger = createLogger({ level: 'silent', name: 't' });

function harness(graceMs = 1_000) {
  let resolveExit: (code: number) => void = () => {};
  const exited = new Promise<number>((r) => (resolveExit = r));
  const shutdown = createShutdown({ logger, graceMs, exit: (code) => resolveExit(code) });
  return { shutdown, exited };
}

describe('createShutdown', () => {
  it('runs steps in order, marks draining at once, and exits 0', async () => {
    const { shutdown, exited } = harness();
    const order: string[] = [];
    shutdown.add({ name: 'a', run: () => Promise.resolve(void order.push('a')) });
    shutdown.add({ name: 'b', run: () => Promise.resolve(void order.push('b')) });
    expect(shutdown.draining).toBe(false);
    shutdown.begin('SIGTERM');
    expect(shutdown.draining).toBe(true);
    expect(await exited).toBe(0);
    expect(order).toEqual(['a', 'b']);
  });

  it('exits non-zero when the grace period runs out', async () => {
    const { shutdown, exited } = harness(50);
    shutdown.add({ name: 'stuck', run: () => new Promise(() => {}) });
    shutdown.begin('SIGTERM');
    expect(await exited).toBe(1);
  });

  it('exits non-zero on a second signal', async () => {
    const { shutdown, exited } = harness();
    shutdown.add({ name: 'slow', run: () => new Promise((r) => setTimeout(r, 5_000).unref()) });
    shutdown.begin('SIGTERM');
    shutdown.begin('SIGINT');
    expect(await exited).toBe(1);
  });

  it('still runs later steps when one fails, then exits non-zero', async () => {
    const { shutdown, exited } = harness();
    let closed = false;
    shutdown.add({ name: 'broken', run: () => Promise.reject(new Error('boom')) });
    shutdown.add({ name: 'close', run: () => Promise.resolve(void (closed = true)) });
    shutdown.begin('SIGTERM');
    expect(await exited).toBe(1);
    expect(closed).toBe(true);
  });
});

describe('drainOnStopSignals', () => {
  // A stand-in for `process` as a service started by `npm start` sees it: an IPC channel that can close.
  function fakeProcess(connected: boolean) {
    const proc = new EventEmitter() as EventEmitter & { send?: () => boolean; connected: boolean };
    proc.send = () => true;
    proc.connected = connected;
    return proc as unknown as NodeJS.Process & EventEmitter;
  }

  it('drains when the runner goes away, even if it went before the service was listening', async () => {
    const early = harness();
    drainOnStopSignals(early.shutdown, fakeProcess(false));
    expect(early.shutdown.draining).toBe(true);
    expect(await early.exited).toBe(0);

    const later = harness();
    const proc = fakeProcess(true);
    drainOnStopSignals(later.shutdown, proc);
    expect(later.shutdown.draining).toBe(false);
    proc.emit('disconnect');
    expect(await later.exited).toBe(0);
  });

  it('does not take the runner going away during a drain as a second signal', async () => {
    const { shutdown, exited } = harness();
    let release: () => void = () => {};
    shutdown.add({ name: 'in-flight work', run: () => new Promise<void>((r) => (release = r)) });
    const proc = fakeProcess(true);
    drainOnStopSignals(shutdown, proc);
    proc.emit('SIGTERM');
    proc.emit('disconnect');
    release();
    expect(await exited).toBe(0);
  });
});
