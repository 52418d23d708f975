// Sign-in code requests as load: several client addresses (127.0.0.x, so per-client limits see
// several clients), each with one request in flight on a keep-alive connection, every outcome kept.
import { Agent, request } from 'node:http';
import { uniqueEmail } from '@cheershare/shared/testing';

export interface Outcome {
  email: string;
  /** The HTTP status, or the error code when there was no answer ('ECONNREFUSED', 'timeout', ...). */
  status: number | string;
  challengeId?: string;
  /** When the request was sent and how long its answer took (ms since the epoch, ms). */
  sentAt: number;
  ms: number;
}

export const isAccepted = (o: Outcome) => typeof o.status === 'number' && o.status >= 200 && o.status < 300;

/** POST /v1/auth/otp for `email` from `from`, on `agent`'s connections; never rejects. */
export function requestCode(base: string, email: string, opts: { from: string; agent?: Agent; timeoutMs?: number }): Promise<Outcome> {
  const sentAt = Date.now();
  const body = JSON.stringify({ email });
  return new Promise((resolve) => {
    const done = (status: number | string, challengeId?: string) => resolve({ email, status, sentAt, ms: Date.now() - sentAt, ...(challengeId && { challengeId }) });
    const req = request(`${base}/v1/auth/otp`, {
      method: 'POST', localAddress: opts.from, agent: opts.agent ?? false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
      res.on('end', () => {
        let id: string | undefined;
        try {
          id = (JSON.parse(Buffer.concat(chunks).toString()) as { challenge_id?: string }).challenge_id;
        } catch {
          id = undefined;
        }
        done(res.statusCode ?? 0, id);
      });
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    req.end(body);
  });
}

export interface Load {
  outcomes: Outcome[];
  accepted(): Outcome[];
  /** Outcomes of requests sent at or after `t`. */
  since(t: number): Outcome[];
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/** `clients` loops, each sending one request at a time then pausing `paceMs`, until stopped. */
export function startLoad(base: string, opts: { clients?: number; paceMs?: number; label?: string; timeoutMs?: number } = {}): Load {
  const { clients = 4, paceMs = 25, label = 'load', timeoutMs } = opts;
  const outcomes: Outcome[] = [];
  let stopped = false;
  const loops = Array.from({ length: clients }, async (_, i) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const from = `127.0.0.${String(10 + i)}`;
    while (!stopped) {
      outcomes.push(await requestCode(base, uniqueEmail(label), { from, agent, ...(timeoutMs && { timeoutMs }) }));
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, paceMs));
    }
    agent.destroy();
  });
  return {
    outcomes,
    accepted: () => outcomes.filter(isAccepted),
    since: (t) => outcomes.filter((o) => o.sentAt >= t),
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** `emails.length` requests, spread over `clients` addresses, all at once. */
export function burst(base: string, emails: string[], clients = 4): Promise<Outcome[]> {
  return Promise.all(emails.map((email, i) => requestCode(base, email, { from: `127.0.0.${String(10 + (i % clients))}` })));
}

/** Counts outcomes by status ('202', '503', 'ECONNREFUSED', ...). */
export function tally(outcomes: { status: number | string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[String(o.status)] = (counts[String(o.status)] ?? 0) + 1;
  return counts;
}
