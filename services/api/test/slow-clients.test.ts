import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, uniqueEmail, waitUntil } from '@cheershare/shared/testing';
import { manualClock, startApi, type TestApi } from './harness.ts';

const BODY_TIMEOUT_MS = 1_000;
const UPLOAD_TIMEOUT_MS = 3_000;

/** One request over a raw socket, its body sent in `chunks` pieces `everyMs` apart. */
function trickle(port: number, head: string, body: Buffer, { chunks, everyMs, localAddress }: { chunks: number; everyMs: number; localAddress?: string }) {
  const socket = connect({ host: '127.0.0.1', port, ...(localAddress && { localAddress }) });
  socket.on('error', () => {}); // the server may reset a socket it has closed while bytes are still coming
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  // Not events.once: it rejects on the 'error' (a reset) that may come before 'close'.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(head);
  const size = Math.ceil(body.length / chunks);
  let sent = 0;
  const timer = setInterval(() => {
    if (sent >= body.length || socket.destroyed) {
      clearInterval(timer);
      return;
    }
    socket.write(body.subarray(sent, sent + size));
    sent += size;
  }, everyMs);
  void closed.then(() => clearInterval(timer));
  const started = Date.now();
  return {
    socket, closed, started,
    allSent: () => sent >= body.length,
    /** The first response, once it has fully arrived. */
    async response() {
      let parsed: ReturnType<typeof parseResponse>;
      await waitUntil(() => (parsed = parseResponse(received)) !== undefined, 'a complete response', 15_000);
      return parsed!;
    },
  };
}

function parseResponse(raw: string) {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const body = raw.slice(end + 4);
  if (body.length < Number(headers['content-length'] ?? 0)) return undefined;
  return { status: Number(statusLine!.split(' ')[1]), headers, body: body ? JSON.parse(body) : undefined };
}

const jsonHead = (path: string, body: Buffer, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${extra}\r\n`;

/** A connection from `localAddress` that sends nothing. */
async function idleFrom(port: number, localAddress: string): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** GET /healthz from `localAddress` on a fresh connection: the status, or the error if the connection was refused. */
function healthzFrom(port: number, localAddress: string): Promise<number | string> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/healthz', localAddress, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('slow clients', () => {
  const clock = manualClock(new Date('2026-06-15T12:00:00Z'));
  let api: TestApi;
  let port: number;

  beforeAll(async () => {
    api = await startApi({ clock, env: { BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS), UPLOAD_TIMEOUT_MS: String(UPLOAD_TIMEOUT_MS) } });
    port = Number(new URL(api.base).port);
  });
  afterAll(() => api.close());

  const challenges = async (email: string) => (await api.app.deps.db.selectFrom('otp_challenges').select('id').where('email', '=', email).execute()).length;

  it('answers a JSON body still arriving at its deadline with 408 in the one error shape, closes the connection, and changes nothing', async () => {
    const email = uniqueEmail('slow');
    const body = Buffer.from(JSON.stringify({ email }));
    const req = trickle(port, jsonHead('/v1/auth/otp', body), body, { chunks: 10, everyMs: 300 });
    const res = await req.response();
    expect(res.status).toBe(408);
    expect(res.body).toEqual({ error: { code: 'request_timeout', message: expect.any(String) } });
    expect(res.headers.connection).toBe('close');
    await req.closed;
    const took = Date.now() - req.started;
    expect(took).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
    expect(req.allSent()).toBe(false);
    expect(await challenges(email)).toBe(0);
  });

  it('accepts a JSON body that trickles in but arrives within its deadline', async () => {
    const email = uniqueEmail('patient');
    const body = Buffer.from(JSON.stringify({ email }));
    const req = trickle(port, jsonHead('/v1/auth/otp', body), body, { chunks: 4, everyMs: 100 });
    const res = await req.response();
    expect(res.status).toBe(202);
    expect(Date.now() - req.started).toBeGreaterThanOrEqual(300);
    expect(await challenges(email)).toBe(1);
    req.socket.destroy();
  });

  it('does not wait past the deadline for a body nobody reads (a 415 already answered)', async () => {
    const body = Buffer.from('x'.repeat(100));
    const head = `POST /v1/auth/otp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`;
    const req = trickle(port, head, body, { chunks: 20, everyMs: 200 });
    expect((await req.response()).status).toBe(415);
    await req.closed;
    expect(req.allSent()).toBe(false);
  });

  describe('uploads', () => {
    let token: string;
    let png: Buffer;
    beforeAll(async () => {
      token = (await api.signIn(uniqueEmail('uploader'))).access_token as string;
      png = await makeImage('png');
    });

    function multipart(file: Buffer): { head: string; body: Buffer } {
      const boundary = 'cheershare-slow-upload';
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="scheduled_on"\r\n\r\n2026-06-15\r\n`),
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`),
        file,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const head = `POST /v1/creatives HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n`
        + `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`;
      return { head, body };
    }
    const rows = async () => (await api.app.deps.db.selectFrom('creatives').select('id').execute()).length;
    const files = async () => (await readdir((api.app.deps.config.storage as { dir: string }).dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;

    it('keep their longer deadline: an upload slower than the JSON one is accepted', async () => {
      const { head, body } = multipart(png);
      const req = trickle(port, head, body, { chunks: 8, everyMs: 250 });
      const res = await req.response();
      expect(res.status).toBe(202);
      expect(Date.now() - req.started).toBeGreaterThan(BODY_TIMEOUT_MS);
      expect(res.body.creative).toMatchObject({ status: 'processing', mime: 'image/png' });
      req.socket.destroy();
    });

    it('get 408 past the upload deadline, and leave no file and no row', async () => {
      const [before, stored] = [await rows(), await files()];
      const { head, body } = multipart(png);
      const req = trickle(port, head, body, { chunks: 40, everyMs: 200 });
      const res = await req.response();
      expect(res.status).toBe(408);
      expect(res.body.error.code).toBe('request_timeout');
      expect(Date.now() - req.started).toBeGreaterThanOrEqual(UPLOAD_TIMEOUT_MS - 50);
      await req.closed;
      await waitUntil(async () => (await files()) === stored, 'the partial upload to be removed');
      expect(await rows()).toBe(before);
      // The aborted upload multer reports afterwards is not a second answer, nor an error to log.
      expect(api.logText()).not.toMatch(/unhandled error|"level":50/);
    });
  });

  it('keeps the headers deadline short, and the server-wide one behind the longest body deadline', () => {
    expect(api.app.server?.headersTimeout).toBe(10_000);
    expect(api.app.server?.requestTimeout).toBeGreaterThanOrEqual(UPLOAD_TIMEOUT_MS);
  });
});

describe('connections per client', () => {
  const opened: Socket[] = [];
  afterAll(() => {
    for (const s of opened) s.destroy();
  });
  const connectionsOf = (api: TestApi) => new Promise<number>((resolve, reject) => {
    api.app.server!.getConnections((err, n) => (err ? reject(err) : resolve(n)));
  });

  it('refuses a client over MAX_CONNECTIONS_PER_CLIENT at once, without affecting others, and frees a place on close', async () => {
    const api = await startApi({ env: { MAX_CONNECTIONS_PER_CLIENT: '5' } });
    try {
      const port = Number(new URL(api.base).port);
      for (let i = 0; i < 5; i++) opened.push(await idleFrom(port, '127.0.0.2'));
      await waitUntil(async () => (await connectionsOf(api)) === 5, 'five connections at the server');

      const sixth = await idleFrom(port, '127.0.0.2');
      opened.push(sixth);
      await once(sixth, 'close');
      expect(opened.slice(0, 5).every((s) => !s.destroyed)).toBe(true);
      expect((await api.app.deps.metrics.connectionsRefused.get()).values[0]?.value).toBe(1);

      expect(await healthzFrom(port, '127.0.0.3')).toBe(200);

      opened[0]!.destroy();
      await waitUntil(async () => (await connectionsOf(api)) === 4, 'the closed connection to be released');
      expect(await healthzFrom(port, '127.0.0.2')).toBe(200);
    } finally {
      for (const s of opened) s.destroy();
      await api.close();
    }
  });

  it('exempts the proxies TRUST_PROXY names (they cap their own clients), and caps everyone else', async () => {
    const api = await startApi({ env: { MAX_CONNECTIONS_PER_CLIENT: '2', TRUST_PROXY: '127.0.0.2' } });
    try {
      const port = Number(new URL(api.base).port);
      for (let i = 0; i < 3; i++) opened.push(await idleFrom(port, '127.0.0.2'));
      for (let i = 0; i < 2; i++) opened.push(await idleFrom(port, '127.0.0.4'));
      await waitUntil(async () => (await connectionsOf(api)) === 5, 'five connections at the server');
      expect(await healthzFrom(port, '127.0.0.2')).toBe(200);
      expect(await healthzFrom(port, '127.0.0.4')).not.toBe(200);
    } finally {
      for (const s of opened) s.destroy();
      await api.close();
    }
  });
});
