// The clients of the multi-host test. They sit in a "client" namespace on the bridge; the test
// process reaches each host's ports through a unix socket that a relay in that namespace exposes
// (`Endpoint.sock`), so every byte still crosses the bridge to the host.
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { uniqueEmail } from '@cheershare/shared/testing';
import { requestCode, type Outcome } from '../faults/load.ts';

/** One server port of a host: its address as the hosts know it, and the relay's socket. */
export interface Endpoint {
  url: string;
  sock: string;
}

/** An HTTP agent whose connections all go to `sock` (node:http lets an agent make its own sockets). */
export function agentTo(sock: string, opts: { keepAlive?: boolean; maxSockets?: number } = {}): Agent {
  const agent = new Agent({ keepAlive: opts.keepAlive ?? false, ...(opts.maxSockets && { maxSockets: opts.maxSockets }) });
  Object.assign(agent, { createConnection: () => connect({ path: sock }) });
  return agent;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  json: any;
}

/** One request on a connection of its own; `form` is sent as multipart/form-data, `json` as JSON. */
export async function call(
  to: Endpoint, method: string, path: string,
  opts: { json?: unknown; form?: FormData; token?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: Buffer | undefined;
  if (opts.json !== undefined) {
    body = Buffer.from(JSON.stringify(opts.json));
    headers['content-type'] = 'application/json';
  } else if (opts.form) {
    // fetch's own encoder makes the multipart body; node:http sends it through the relay.
    const encoded = new Request('http://x/', { method: 'POST', body: opts.form });
    body = Buffer.from(await encoded.arrayBuffer());
    headers['content-type'] = encoded.headers.get('content-type') ?? '';
  }
  if (body) headers['content-length'] = String(body.length);
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const agent = agentTo(to.sock);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, to.url), { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        let json: unknown;
        try {
          json = JSON.parse(all.toString());
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, json });
      });
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${path}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface HostTarget {
  name: string;
  api: Endpoint;
  /** The API's operator port (/readyz). */
  ops: Endpoint;
}

export type HostOutcome = Outcome & { host: string };

export interface Load {
  outcomes: HostOutcome[];
  /** Hosts the clients consider ready right now. */
  ready(): string[];
  /** Each host's last /readyz answer (status and body, or the error), for failure messages. */
  readiness(): Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Sign-in code requests from `clients` loops, each with a keep-alive connection per host, sent
 * round-robin to the hosts whose /readyz said 200 at its last poll (every `pollMs`), as a load
 * balancer does. A request that fails takes its host out until /readyz answers 200 again.
 */
export function startLoad(hosts: HostTarget[], opts: { clients?: number; paceMs?: number; pollMs?: number; label?: string } = {}): Load {
  const { clients = 6, paceMs = 20, pollMs = 200, label = 'mh-load' } = opts;
  const outcomes: HostOutcome[] = [];
  const ready = new Map(hosts.map((h) => [h.name, false]));
  const lastAnswer = new Map<string, string>();
  let stopped = false;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const poller = (async () => {
    while (!stopped) {
      await Promise.all(hosts.map(async (h) => {
        const answer = await call(h.ops, 'GET', '/readyz').catch((err: Error) => err);
        lastAnswer.set(h.name, answer instanceof Error ? answer.message : `${String(answer.status)} ${answer.body.toString()}`);
        ready.set(h.name, !(answer instanceof Error) && answer.status === 200);
      }));
      await pause(pollMs);
    }
  })();

  let turn = 0;
  const loops = Array.from({ length: clients }, async () => {
    const agents = new Map(hosts.map((h) => [h.name, agentTo(h.api.sock, { keepAlive: true, maxSockets: 1 })]));
    while (!stopped) {
      const up = hosts.filter((h) => ready.get(h.name));
      const host = up[turn++ % Math.max(up.length, 1)];
      if (!host) {
        await pause(pollMs / 2);
        continue;
      }
      const outcome = await requestCode(host.api.url, uniqueEmail(label), { from: '', agent: agents.get(host.name)! });
      outcomes.push({ ...outcome, host: host.name });
      if (typeof outcome.status !== 'number') ready.set(host.name, false);
      await pause(paceMs);
    }
    for (const agent of agents.values()) agent.destroy();
  });

  return {
    outcomes,
    ready: () => hosts.filter((h) => ready.get(h.name)).map((h) => h.name),
    readiness: () => Object.fromEntries(lastAnswer),
    async stop() {
      stopped = true;
      await Promise.all([poller, ...loops]);
    },
  };
}
