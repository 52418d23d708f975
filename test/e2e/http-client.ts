// Raw node:http requests for shutdown tests: they need to see connection-level outcomes (a reset, a
// refused connection, a reused keep-alive socket) that fetch hides behind one TypeError.
import { once } from 'node:events';
import { request, type Agent, type ClientRequest } from 'node:http';

/** What became of one request: a complete answer (its body read to the end), or the error code. */
export interface Outcome {
  path: string;
  sentAt: number;
  doneAt: number;
  /** Sent on a socket an earlier request had used (keep-alive). */
  reused: boolean;
  status?: number;
  /** The answer's Connection header. */
  connection?: string | undefined;
  body?: string;
  /** ECONNREFUSED, ECONNRESET (also "socket hang up"), EPIPE, … */
  error?: string;
}

/** Always resolves: with the answer once its body has ended, or with the request's error code. */
function outcomeOf(req: ClientRequest, path: string): Promise<Outcome> {
  const sentAt = Date.now();
  return new Promise((resolve) => {
    const done = (o: Partial<Outcome>) => resolve({ path, sentAt, doneAt: Date.now(), reused: req.reusedSocket, ...o });
    const failed = (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => done({ status: res.statusCode, connection: res.headers.connection, body: text }));
      res.on('error', failed);
    });
    req.on('error', failed);
  });
}

/** Sends one request (a POST when `json` is given). `agent: false` opens a connection of its own. */
export function send(base: string, path: string, opts: { agent: Agent | false; json?: unknown }): Promise<Outcome> {
  const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
  const req = request(new URL(path, base), {
    method: body === undefined ? 'GET' : 'POST',
    agent: opts.agent,
    headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const outcome = outcomeOf(req, path);
  req.end(body);
  return outcome;
}

/**
 * A POST whose body the test finishes when it chooses. Resolves once the server has parsed the
 * headers (it answers `100 Continue`), so the request is in flight in the server, not only on the wire.
 */
export async function slowPost(base: string, path: string, partialBody: string): Promise<{ finish(rest: string): Promise<Outcome>; destroy(): void }> {
  const req = request(new URL(path, base), { method: 'POST', agent: false, headers: { 'content-type': 'application/json', expect: '100-continue' } });
  const outcome = outcomeOf(req, path);
  req.flushHeaders();
  await once(req, 'continue');
  req.write(partialBody);
  return {
    finish(rest) {
      req.end(rest);
      return outcome;
    },
    destroy: () => req.destroy(),
  };
}
