// The load driver where wrk is missing (or `--load autocannon`): the same kinds of load as the
// Lua scripts in lua/, run with autocannon's programmatic API in a process of its own, printing
// the same one-line result. Argument: the LoadSpec as JSON.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './load.ts';

type Request = { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string | Buffer };

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
process.on('disconnect', () => process.exit(1));

const readLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const json = { 'content-type': 'application/json' };

function multipart(bytes: number, date: string, token: string | undefined): Request {
  const boundary = `cheershare-bench-${Date.now()}`;
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="scheduled_on"\r\n\r\n${date}\r\n`
    + `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="bench.jpg"\r\ncontent-type: image/jpeg\r\n\r\n`;
  const file = Buffer.alloc(bytes);
  file.set([0xff, 0xd8, 0xff, 0xe0]);
  const body = Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...(token && { authorization: `Bearer ${token}` }) } };
}

/** The i-th request (1-based), as the Lua script of the same kind builds it. */
function requestMaker(): { make: (i: number) => Request; available: number } {
  switch (spec.kind) {
    case 'get': {
      const tokens = spec.tokensFile ? readLines(spec.tokensFile) : [];
      const requests: Request[] = tokens.length ? tokens.map((t) => ({ method: 'GET', headers: { authorization: `Bearer ${t}` } })) : [{ method: 'GET' }];
      return { make: (i) => requests[(i - 1) % requests.length]!, available: Infinity };
    }
    case 'post-unique':
      return { make: (i) => ({ method: 'POST', headers: json, body: `{"email":"${spec.prefix}-1-${i}@example.test"}` }), available: Infinity };
    case 'post-lines': {
      const lines = readLines(spec.linesFile);
      return { make: (i) => ({ method: 'POST', headers: json, body: lines[(i - 1) % lines.length] }), available: lines.length };
    }
    case 'upload': {
      const request = multipart(spec.bytes, spec.date, spec.token);
      return { make: () => request, available: Infinity };
    }
  }
}

const { make, available } = requestMaker();
// autocannon builds each connection's next request before it knows whether it will be sent, so
// one body per connection may be built and never sent: keep that many in hand, so no line (a
// one-time code) is ever sent twice.
const count = spec.count === undefined ? 0 : Math.min(spec.count, available === Infinity ? spec.count : available - spec.connections);
const connections = count ? Math.max(1, Math.min(spec.connections, count)) : spec.connections;
let built = 0;
let first: number | undefined;
let last: number | undefined;
let answered = 0;
let ok = 0;
const statuses: Record<string, number> = {};

const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon({
    url: spec.url,
    connections,
    timeout: spec.timeoutSeconds,
    ...(count ? { amount: count } : { duration: spec.seconds }),
    requests: [{
      setupRequest: (req) => {
        built += 1;
        first ??= performance.now();
        return { ...req, ...make(built) };
      },
    }],
  }, (err: unknown, res) => (err ? reject(err instanceof Error ? err : new Error('autocannon failed')) : resolve(res)));
  instance.on('response', (_client, status) => {
    answered += 1;
    if (status >= 200 && status < 300) ok += 1;
    else statuses[status] = (statuses[status] ?? 0) + 1;
    if (count && answered === count) last = performance.now();
  });
});

const durationMs = count && first !== undefined && last !== undefined ? last - first : result.duration * 1000;
const out: Omit<LoadResult, 'rps'> = {
  requests: answered,
  durationMs,
  count,
  answered,
  ok,
  bad: answered - ok,
  statuses,
  errors: { connect: result.errors - result.timeouts, read: 0, write: 0, timeout: result.timeouts, status: result['4xx'] + result['5xx'] },
  latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
};
process.stdout.write(`bench-result ${JSON.stringify(out)}\n`, () => process.exit(0));
