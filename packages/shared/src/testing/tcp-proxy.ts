import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of a real server, with which a test stages network failures: cut, blackhole
 * and reset, each ended by restore().
 */
export interface TcpProxy {
  port: number;
  /** `url` with its port replaced by the proxy's. */
  via(url: string): string;
  /** Closes every connection and refuses new ones until restore(). */
  cut(): void;
  /**
   * The network goes silent, as when a firewall drops packets: connections stay open but no byte
   * passes either way, and new connections are accepted but not connected to the server. What is
   * sent meanwhile (bytes, and the end of a stream) is held and delivered on restore(), as TCP
   * retransmission would deliver it; a connection its client gave up before it ever reached the
   * server is dropped on restore().
   */
  blackhole(): void;
  /** Resets every connection, both sides (RST), as a crashed middlebox would; the mode does not change. */
  reset(): void;
  /** Ends a cut or a blackhole: held bytes are delivered and held connections go through. */
  restore(): void;
  /** Bytes held by the blackhole, both directions: lets a test wait until traffic is stuck in it. */
  heldBytes(): number;
  close(): Promise<void>;
}

/** One direction of a connection: where its bytes go, and what the blackhole holds back. */
interface Direction {
  to: Socket | undefined;
  held: Buffer[];
  ended: boolean;
}

interface Link {
  client: Socket;
  upstream: Socket | undefined;
  /** Client to server. */
  up: Direction;
  /** Server to client. */
  down: Direction;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const links = new Set<Link>();
  let mode: 'open' | 'cut' | 'blackhole' = 'open';
  const holding = () => mode === 'blackhole';

  const destroy = (link: Link) => {
    link.client.destroy();
    link.upstream?.destroy();
    links.delete(link);
  };
  const forgetWhenClosed = (link: Link) => {
    if (link.client.destroyed && (!link.upstream || link.upstream.destroyed)) links.delete(link);
  };

  // Forwards `from` into `dir`, or holds its bytes and its end while the blackhole lasts.
  const relay = (link: Link, from: Socket, dir: Direction) => {
    from.on('data', (chunk: Buffer) => {
      if (holding() || !dir.to) {
        dir.held.push(chunk);
        return;
      }
      if (!dir.to.write(chunk)) {
        from.pause();
        dir.to.once('drain', () => from.resume());
      }
    });
    from.on('end', () => {
      if (holding() || !dir.to) dir.ended = true;
      else dir.to.end();
    });
    from.on('error', () => {
      // In a blackhole the other side learns nothing until the network is back.
      if (holding()) dir.ended = true;
      else destroy(link);
    });
    from.on('close', () => forgetWhenClosed(link));
  };

  const release = (dir: Direction) => {
    if (!dir.to || dir.to.destroyed) return;
    for (const chunk of dir.held.splice(0)) dir.to.write(chunk);
    if (dir.ended) dir.to.end();
  };

  const connectUpstream = (link: Link) => {
    const upstream = connect({ ...target, allowHalfOpen: true });
    link.upstream = upstream;
    link.up.to = upstream;
    relay(link, upstream, link.down);
  };

  // Half-open allowed on both sides: an end travels on its own (and can be held), never answered by
  // the proxy itself.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const link: Link = { client, upstream: undefined, up: { to: undefined, held: [], ended: false }, down: { to: client, held: [], ended: false } };
    links.add(link);
    relay(link, client, link.up);
    if (!holding()) connectUpstream(link);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  const dropAll = () => {
    for (const link of [...links]) destroy(link);
  };

  return {
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut() {
      mode = 'cut';
      dropAll();
    },
    blackhole() {
      mode = 'blackhole';
    },
    reset() {
      for (const link of [...links]) {
        for (const s of [link.client, link.upstream]) if (s && !s.destroyed) s.resetAndDestroy();
        links.delete(link);
      }
    },
    restore() {
      mode = 'open';
      for (const link of [...links]) {
        if (!link.upstream) {
          if (link.up.ended || link.client.destroyed) {
            destroy(link);
            continue;
          }
          connectUpstream(link);
        }
        release(link.up);
        release(link.down);
      }
    },
    heldBytes() {
      let n = 0;
      for (const link of links) for (const chunk of [...link.up.held, ...link.down.held]) n += chunk.length;
      return n;
    },
    async close() {
      mode = 'cut';
      dropAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
