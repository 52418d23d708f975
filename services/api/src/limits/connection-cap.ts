import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Express } from 'express';
import { clientKey } from './client-address.ts';

export interface ConnectionCap {
  /** Open connections per client (clientKey); 0 turns the cap off. */
  max: number;
  /** Peers that are not clients: trusted proxies carry many clients' requests and cap them themselves. */
  exempt: (address: string) => boolean;
  /** Called once per refused connection (metrics). */
  refused: () => void;
}

/**
 * Caps the connections one client address holds open at once, so a few machines holding many
 * idle or slow connections cannot use up the server's sockets. A connection over the cap is
 * destroyed at once, before a byte of it is read: an answer would cost a write the client may
 * never read and keep the socket open until it did, and there is no request yet to answer. It
 * never counts against anyone, and every counted connection is released when it closes.
 */
export function capConnectionsPerClient(server: Server, cap: ConnectionCap): void {
  if (cap.max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || cap.exempt(address)) return; // undefined: already gone
    const key = clientKey(address);
    const count = open.get(key) ?? 0;
    if (count >= cap.max) {
      socket.destroy();
      cap.refused();
      return;
    }
    open.set(key, count + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
}

/**
 * The peers Express's `trust proxy` (TRUST_PROXY) treats as proxies. A hop count or `true` trusts
 * every peer, so nothing is capped here: the proxy in front must cap its own clients.
 */
export function trustedProxies(app: Express): (address: string) => boolean {
  const trust = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
  return (address) => trust(address, 0);
}
