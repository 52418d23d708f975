// Open-loop load for the end-to-end scenario, in a process of its own: POST {"email"} requests at a
// fixed arrival rate, each sent at its intended time however slow earlier answers are (new
// connections open as needed), so a slow server cannot slow the arrivals and hide its own
// latency (coordinated omission). Every time is reported from the *intended* send time.
// Argument: OpenLoopSpec as JSON. Prints { requests: OpenLoopRequest[] } as one JSON line.
import { Agent, request } from 'node:http';

export interface OpenLoopSpec {
  url: string;
  rate: number;
  seconds: number;
  /** Sent first at the same rate, reported with `warmup: true`. */
  warmupSeconds: number;
  prefix: string;
}

export interface OpenLoopRequest {
  email: string;
  /** Epoch ms (sub-millisecond), comparable with the sink's receive times. */
  intendedAt: number;
  /** 0 when the request failed without an answer. */
  status: number;
  /** Intended send time to the end of the response. */
  latencyMs: number;
  warmup: boolean;
  /** Why there was no answer (an error code), when status is 0. */
  error?: string;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as OpenLoopSpec;
process.on('disconnect', () => process.exit(1));

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
const interval = 1000 / spec.rate;
const warmups = Math.round(spec.rate * spec.warmupSeconds);
const total = warmups + Math.round(spec.rate * spec.seconds);
const results: OpenLoopRequest[] = [];
const start = performance.now() + 20;

function send(i: number): Promise<void> {
  const intended = start + i * interval;
  const email = `${spec.prefix}-${i}@example.test`;
  const body = JSON.stringify({ email });
  const done = (status: number, err?: NodeJS.ErrnoException) => {
    results.push({
      email, intendedAt: performance.timeOrigin + intended, status, latencyMs: performance.now() - intended, warmup: i < warmups,
      ...(err && { error: err.code ?? err.message }),
    });
  };
  return new Promise((resolve) => {
    const req = request(spec.url, { method: 'POST', agent, timeout: 30_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(done(res.statusCode ?? 0)));
      res.on('error', (err) => resolve(done(0, err)));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(done(0, err)));
    req.end(body);
  });
}

const inFlight: Promise<void>[] = [];
let next = 0;
while (next < total) {
  // Everything whose time has come goes now, late or not; then sleep until the next one is due.
  while (next < total && start + next * interval <= performance.now()) inFlight.push(send(next++));
  if (next < total) await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + next * interval - performance.now())));
}
await Promise.all(inFlight);
agent.destroy();
process.stdout.write(`${JSON.stringify({ requests: results })}\n`, () => process.exit(0));
