// A baseline server in a process of its own, forked by the bench harness:
//   http     bare node:http: GET /hello, JSON POST /echo
//   express  a minimal Express 5 app with the same two routes
//   upload   bare node:http streaming every request body to a file, as the API streams uploads
// Reports { type: 'ready', port } over IPC, and exits when the harness goes away.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import express from 'express';

const kind = process.argv[2];
const HELLO = JSON.stringify({ hello: 'world' });

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function bareHttp() {
  return createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/hello') return send(res, 200, HELLO);
    if (req.method === 'POST' && req.url === '/echo') {
      readBody(req).then(
        (text) => send(res, 200, JSON.stringify(JSON.parse(text))),
        () => send(res, 400, '{"error":"bad body"}'),
      );
      return;
    }
    send(res, 404, '{"error":"not found"}');
  });
}

function minimalExpress() {
  const app = express();
  app.get('/hello', (_req, res) => void res.json({ hello: 'world' }));
  app.post('/echo', express.json(), (req, res) => void res.json(req.body));
  return createServer(app);
}

// The file is the point (the disk write is part of what the API does); it goes once written.
function uploadToDisk(dir: string) {
  return createServer((req, res) => {
    const file = join(dir, `upload-${randomUUID()}`);
    pipeline(req, createWriteStream(file))
      .then(() => send(res, 201, '{"stored":true}'), () => send(res, 500, '{"error":"write failed"}'))
      .finally(() => void rm(file, { force: true }));
  });
}

const server = kind === 'http' ? bareHttp() : kind === 'express' ? minimalExpress() : kind === 'upload' ? uploadToDisk(process.argv[3] ?? '.') : undefined;
if (!server) throw new Error(`unknown baseline kind ${kind}: http, express or upload`);
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
// A baseline has nothing to drain.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
