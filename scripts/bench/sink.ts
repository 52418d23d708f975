// The bench's SMTP sink, in a process of its own so its work is not the harness's: accepts every
// message (smtp-server, as the tests' sink), keeps only recipient, code and the time it accepted
// it (epoch ms, sub-millisecond), and answers the harness over IPC. It can be made slow (a delay
// before each DATA answer) so deliveries stay in flight.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface SinkRecord {
  to: string;
  code: string | null;
  at: number;
}

export type SinkRequest =
  | { id: number; cmd: 'stats' }
  | { id: number; cmd: 'since'; from: number }
  | { id: number; cmd: 'delay'; ms: number };

export interface SinkStats {
  count: number;
  /** DATA commands received and not yet answered. */
  inFlight: number;
}

const records: SinkRecord[] = [];
let delayMs = 0;
let inFlight = 0;
const now = () => performance.timeOrigin + performance.now();

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  maxClients: 1_000,
  onData(stream, session, callback) {
    inFlight += 1;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const accept = () => {
        inFlight -= 1;
        const code = /code is (\d{10}|\d{6})\b/.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? null;
        const at = now();
        for (const r of session.envelope.rcptTo) records.push({ to: r.address.toLowerCase(), code, at });
        callback(null);
      };
      if (delayMs > 0) setTimeout(accept, delayMs);
      else accept();
    });
  },
});
server.on('error', () => {});

process.on('message', (m: SinkRequest) => {
  let result: unknown;
  if (m.cmd === 'stats') result = { count: records.length, inFlight } satisfies SinkStats;
  else if (m.cmd === 'since') result = records.slice(m.from);
  else {
    delayMs = m.ms;
    result = null;
  }
  process.send?.({ id: m.id, result });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.server.address() as AddressInfo).port });
});
