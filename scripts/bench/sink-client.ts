import { fileURLToPath } from 'node:url';
import type { Children } from './children.ts';
import type { SinkRecord, SinkStats } from './sink.ts';

export type { SinkRecord } from './sink.ts';

export interface Sink {
  url: string;
  stats(): Promise<SinkStats>;
  /** Records from index `from` on, in arrival order. */
  since(from: number): Promise<SinkRecord[]>;
  /** Delay every DATA answer by `ms` (0: answer at once). */
  setDelay(ms: number): Promise<void>;
  /**
   * Waits until `want` distinct recipients matching `match` arrived after index `from`, or
   * `timeoutMs` passed; returns the matching records either way (the caller counts what is lost).
   */
  collect(from: number, match: (to: string) => boolean, want: number, timeoutMs: number): Promise<SinkRecord[]>;
}

const ENTRY = fileURLToPath(new URL('./sink.ts', import.meta.url));

export async function startSink(children: Children): Promise<Sink> {
  const child = children.node('smtp sink', ENTRY, [], {});
  const { port } = await child.ready<{ port: number }>();
  let nextId = 0;
  const pending = new Map<number, (result: unknown) => void>();
  child.proc.on('message', (m: { id?: number; result?: unknown }) => {
    if (m.id === undefined) return;
    pending.get(m.id)?.(m.result);
    pending.delete(m.id);
  });
  const call = <T>(msg: Record<string, unknown>) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, resolve as (r: unknown) => void);
      child.proc.send({ id, ...msg }, (err) => {
        if (!err) return;
        pending.delete(id);
        reject(err);
      });
    });

  const sink: Sink = {
    url: `smtp://127.0.0.1:${port}`,
    stats: () => call<SinkStats>({ cmd: 'stats' }),
    since: (from) => call<SinkRecord[]>({ cmd: 'since', from }),
    setDelay: (ms) => call<null>({ cmd: 'delay', ms }).then(() => undefined),
    async collect(from, match, want, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { count } = await sink.stats();
        if (count - from >= want || Date.now() > deadline) {
          const found = (await sink.since(from)).filter((r) => match(r.to));
          if (new Set(found.map((r) => r.to)).size >= want || Date.now() > deadline) return found;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
  return sink;
}
