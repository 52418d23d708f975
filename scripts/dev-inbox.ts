// The development inbox of `npm start`: a real SMTP server (the test suite's sink) that keeps
// every message, prints its text, and shows it to people at http://localhost:8025/ and to
// scripts at /messages.json. Loopback only: it shows sign-in codes.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startSmtpSink, type ReceivedMail } from '@cheershare/shared/testing';

export interface DevInbox {
  smtpUrl: string;
  pageUrl: string;
  close(): Promise<void>;
}

/** The text/plain part of a message, its transfer encoding undone: what a mail client would show. */
export function plainText(raw: string): string {
  const start = raw.search(/^content-type:\s*text\/plain/im);
  const headerEnd = raw.indexOf('\r\n\r\n', Math.max(start, 0));
  const headers = start < 0 ? raw.slice(0, headerEnd) : raw.slice(start, headerEnd);
  const part = (raw.slice(headerEnd + 4).split(/\r?\n--/)[0] ?? '');
  const encoding = /^content-transfer-encoding:\s*([\w-]+)/im.exec(headers)?.[1]?.toLowerCase();
  if (encoding === 'base64') return Buffer.from(part.replace(/\s+/g, ''), 'base64').toString('utf8').trim();
  const bytes = encoding === 'quoted-printable'
    ? part.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    : part;
  return Buffer.from(bytes, 'latin1').toString('utf8').trim();
}

/** RFC 2047 encoded-words (=?UTF-8?Q?…?= / =?UTF-8?B?…?=) back to text. */
function decodeHeader(value: string): string {
  return value.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=\s*/g, (_, _charset: string, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (__, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'));
}

function present(mail: ReceivedMail) {
  return { to: mail.to.join(', '), subject: decodeHeader(mail.headers.get('subject') ?? ''), text: plainText(mail.raw), received_at: mail.receivedAt.toISOString() };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(mails: ReturnType<typeof present>[]): string {
  const items = mails.map((m) => `<article><h2>${escape(m.subject)}</h2><p class="meta">to ${escape(m.to)} · ${escape(m.received_at)}</p><pre>${escape(m.text)}</pre></article>`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>cheershare dev inbox (${mails.length})</title>
<style>body{font:15px system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}article{border:1px solid #ccc;border-radius:6px;padding:0 1rem;margin:1rem 0}.meta{color:#666}pre{white-space:pre-wrap}</style>
</head><body><h1>Development inbox</h1><p>Newest first; refreshes every 5 s. For scripts: <a href="/messages.json">/messages.json</a>.</p>
${items.join('\n') || '<p>No mail yet.</p>'}</body></html>`;
}

async function listen(server: Server, port: number): Promise<number> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/**
 * Starts the inbox. SMTP takes `smtpPort` (a free one if taken); the page takes `httpPort`, falling
 * back to a free port when the default is taken (never when it was asked for explicitly).
 */
export async function startDevInbox(opts: { smtpPort: number; httpPort: number; httpPortExplicit: boolean; onMail: (text: string) => void }): Promise<DevInbox> {
  const sink = await startSmtpSink({ port: opts.smtpPort }).catch(() => startSmtpSink({ port: 0 }));
  let shown = 0;
  const printer = setInterval(() => {
    for (const mail of sink.mails.slice(shown)) {
      const m = present(mail);
      opts.onMail(`\n[dev inbox] to ${m.to}: ${m.subject}\n${m.text}\n`);
    }
    shown = sink.mails.length;
  }, 200);
  printer.unref();

  const server = createServer((req, res) => {
    // Only this machine's own names: a web page elsewhere cannot rebind a name to read codes.
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!['localhost', '127.0.0.1', '[::1]'].includes(host)) {
      res.writeHead(403).end();
      return;
    }
    const mails = sink.mails.map(present).reverse();
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (req.method !== 'GET' && req.method !== 'HEAD') res.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end();
    else if (req.url === '/messages.json') res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(mails));
    else if (req.url === '/' || req.url?.startsWith('/?')) {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" }).end(page(mails));
    } else res.writeHead(404, headers).end();
  });
  let httpPort: number;
  try {
    httpPort = await listen(server, opts.httpPort);
  } catch (err) {
    if (opts.httpPortExplicit) {
      await sink.close();
      throw new Error(`DEV_INBOX_PORT ${opts.httpPort} is taken (${(err as Error).message}): choose another port`, { cause: err });
    }
    httpPort = await listen(server, 0);
  }
  return {
    smtpUrl: sink.url,
    pageUrl: `http://localhost:${httpPort}/`,
    async close() {
      clearInterval(printer);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await sink.close();
    },
  };
}
