import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  headers: Map<string, string>;
  /** The code (6 or 10 digits) of a sign-in email, if there is one. */
  code: string | undefined;
  receivedAt: Date;
}

/** How the sink answers the next DATA commands: each entry is used once, then it accepts. */
export type SinkReply = { reject: number; message?: string } | { delayMs: number };

export interface SmtpSink {
  url: string;
  port: number;
  mails: ReceivedMail[];
  /** Queue replies for the next messages, e.g. one 451 then accept. `plan()` clears them. */
  plan(...replies: SinkReply[]): void;
  /** Like plan, for messages to one recipient only, so other traffic cannot use them up. */
  planFor(recipient: string, ...replies: SinkReply[]): void;
  /** Delay every DATA answer by this long (a slow server). */
  setDelay(ms: number): void;
  waitForMail(predicate: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** Number of DATA commands seen, accepted or not. */
  readonly attempts: number;
  /** Number of DATA commands seen for one recipient, accepted or not. */
  attemptsFor(recipient: string): number;
  /** Messages received whose answer is being delayed right now. */
  readonly delayedAnswers: number;
  /**
   * The server goes away: the listener closes (connections are refused) and every open session
   * is dropped without an answer; a message whose answer was being delayed is not kept.
   */
  goAway(): Promise<void>;
  /** Listens again on the same port after `goAway`. */
  comeBack(): Promise<void>;
  close(): Promise<void>;
}

function parseHeaders(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return headers;
}

/** A real SMTP server in-process (the `smtp-server` package) that keeps what it receives. */
export async function startSmtpSink(opts: { port?: number; host?: string } = {}): Promise<SmtpSink> {
  const mails: ReceivedMail[] = [];
  const replies: SinkReply[] = [];
  const repliesFor = new Map<string, SinkReply[]>();
  const waiters = new Set<() => void>();
  let delayMs = 0;
  let attempts = 0;
  const attemptsByRecipient = new Map<string, number>();

  // Sessions and pending answers of the server now listening, so goAway can drop them.
  const sockets = new Set<Socket>();
  const pending = new Set<NodeJS.Timeout>();

  const createServer = () => new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        attempts += 1;
        for (const r of session.envelope.rcptTo) {
          const key = r.address.toLowerCase();
          attemptsByRecipient.set(key, (attemptsByRecipient.get(key) ?? 0) + 1);
        }
        const personal = session.envelope.rcptTo.map((r) => repliesFor.get(r.address.toLowerCase())).find((q) => q?.length);
        const reply = personal ? personal.shift() : replies.shift();
        const finish = () => {
          if (reply && 'reject' in reply) {
            const err = Object.assign(new Error(reply.message ?? `rejected with ${reply.reject}`), { responseCode: reply.reject });
            callback(err);
            return;
          }
          const raw = Buffer.concat(chunks).toString('utf8');
          const envelope = session.envelope;
          // Kept even when the client has hung up meanwhile: the server took the message.
          mails.push({
            from: envelope.mailFrom ? envelope.mailFrom.address : '',
            to: envelope.rcptTo.map((r) => r.address),
            raw,
            headers: parseHeaders(raw),
            code: /code is (\d{10}|\d{6})\b/.exec(raw)?.[1],
            receivedAt: new Date(),
          });
          callback(null);
          for (const wake of waiters) wake();
        };
        const wait = reply && 'delayMs' in reply ? reply.delayMs : delayMs;
        if (wait <= 0) {
          finish();
          return;
        }
        const timer = setTimeout(() => {
          pending.delete(timer);
          finish();
        }, wait);
        pending.add(timer);
      });
    },
  });

  const listen = async (port: number) => {
    const server = createServer();
    server.server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, opts.host ?? '127.0.0.1', () => resolve());
    });
    server.on('error', () => {});
    return server;
  };

  let server: SMTPServer | undefined = await listen(opts.port ?? 0);
  const port = (server.server.address() as AddressInfo).port;

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    mails,
    get attempts() {
      return attempts;
    },
    attemptsFor: (recipient) => attemptsByRecipient.get(recipient.toLowerCase()) ?? 0,
    get delayedAnswers() {
      return pending.size;
    },
    plan: (...r) => {
      if (r.length === 0) {
        replies.length = 0;
        repliesFor.clear();
      }
      replies.push(...r);
    },
    planFor: (recipient, ...r) => {
      const key = recipient.toLowerCase();
      repliesFor.set(key, [...(repliesFor.get(key) ?? []), ...r]);
    },
    setDelay: (ms) => void (delayMs = ms),
    waitForMail(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = mails.find(predicate);
          if (!found) return;
          cleanup();
          resolve(found);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching mail within ${timeoutMs} ms (received ${mails.length})`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async goAway() {
      const going = server;
      if (!going) return;
      server = undefined;
      for (const timer of pending) clearTimeout(timer);
      pending.clear();
      const closed = new Promise<void>((resolve) => going.server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    async comeBack() {
      server ??= await listen(port);
    },
    close: () => new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
    }),
  };
}
