// Byte relays between a unix socket and a TCP address. A path-named unix socket belongs to the
// filesystem, not to a network namespace: through one, the test process reaches servers inside
// the namespaces, and the services reach the SMTP sink the test process holds.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

export type Endpoint = { path: string } | { host: string; port: number };
export interface ForwardSpec {
  listen: Endpoint;
  target: Endpoint;
}

/** Joins two sockets; when one side fails the other is dropped too (a reset stays a failure). */
function join(client: Socket, upstream: Socket): void {
  const drop = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', drop);
  upstream.on('error', drop);
  client.pipe(upstream);
  upstream.pipe(client);
}

/** Listens on every spec's `listen` and relays each connection to its `target`; resolves once all listen. */
export async function forward(specs: ForwardSpec[]): Promise<{ close(): Promise<void> }> {
  const servers: Server[] = [];
  for (const spec of specs) {
    const server = createServer((client) => join(client, connect(spec.target)));
    if ('path' in spec.listen) {
      rmSync(spec.listen.path, { force: true });
      server.listen(spec.listen.path);
    } else {
      server.listen(spec.listen.port, spec.listen.host);
    }
    await once(server, 'listening');
    servers.push(server);
  }
  return {
    close: async () => {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}
