import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../src/testing/index.ts';

/** A client connection and everything it has received so far. */
interface Peer {
  socket: Socket;
  received(): string;
}

function track(socket: Socket): Peer {
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString()));
  socket.on('error', () => {});
  return { socket, received: () => text };
}

describe('the TCP proxy', () => {
  let server: Server;
  let accepted: Socket[];
  let proxy: TcpProxy;

  beforeEach(async () => {
    accepted = [];
    // An echo server that also remembers its connections.
    server = createServer((s) => {
      accepted.push(s);
      s.on('error', () => {});
      s.on('data', (d: Buffer) => s.write(d));
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    proxy = await startTcpProxy({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  });

  afterEach(async () => {
    await proxy.close();
    for (const s of accepted) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const open = async () => {
    const peer = track(connect(proxy.port, '127.0.0.1'));
    await once(peer.socket, 'connect');
    return peer;
  };

  it('holds every byte and new connection in a blackhole, and delivers them on restore', async () => {
    const a = await open();
    a.socket.write('1');
    await expect.poll(() => a.received()).toBe('1');

    proxy.blackhole();
    a.socket.write('2');
    accepted[0]!.write('3');
    const b = await open();
    b.socket.write('4');
    await expect.poll(() => proxy.heldBytes()).toBe(3);
    expect(a.received()).toBe('1');
    expect(accepted).toHaveLength(1);

    proxy.restore();
    await expect.poll(() => a.received()).toBe('132');
    await expect.poll(() => b.received()).toBe('4');
    expect(accepted).toHaveLength(2);
    expect(proxy.heldBytes()).toBe(0);
  });

  it('delivers the end of a stream sent during a blackhole after what came before it', async () => {
    const a = await open();
    a.socket.write('x');
    await expect.poll(() => a.received()).toBe('x');
    const upstream = accepted[0]!;
    let seen = '';
    upstream.on('data', (d: Buffer) => (seen += d.toString()));
    proxy.blackhole();
    a.socket.end('y');
    await expect.poll(() => proxy.heldBytes()).toBe(1);
    expect(upstream.readableEnded).toBe(false);
    proxy.restore();
    await once(upstream, 'end');
    expect(seen).toBe('y');
  });

  it('drops, on restore, a connection its client gave up during the blackhole', async () => {
    proxy.blackhole();
    const b = await open();
    b.socket.end('hello');
    await expect.poll(() => proxy.heldBytes()).toBe(5);
    proxy.restore();
    await once(b.socket, 'close');
    expect(accepted).toHaveLength(0);
  });

  it('resets every connection, both sides, and keeps accepting', async () => {
    const a = await open();
    a.socket.write('1');
    await expect.poll(() => a.received()).toBe('1');
    const clientError = once(a.socket, 'error');
    const serverError = once(accepted[0]!, 'error');
    proxy.reset();
    expect(((await clientError)[0] as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(((await serverError)[0] as NodeJS.ErrnoException).code).toBe('ECONNRESET');

    const b = await open();
    b.socket.write('2');
    await expect.poll(() => b.received()).toBe('2');
  });

  it('cuts every connection and refuses new ones until restore', async () => {
    const a = await open();
    proxy.cut();
    await once(a.socket, 'close');
    const refused = track(connect(proxy.port, '127.0.0.1'));
    await once(refused.socket, 'close');
    expect(refused.received()).toBe('');
    proxy.restore();
    const b = await open();
    b.socket.write('ok');
    await expect.poll(() => b.received()).toBe('ok');
  });
});
