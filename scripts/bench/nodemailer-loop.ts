// The mailer drain's baseline, in a process of its own: plain nodemailer with a pooled transport
// (`pool: true`, maxConnections as the mailer's SMTP_MAX_CONNECTIONS) sending `count` sign-in
// messages, rendered as the mailer renders them, to the bench's sink, `lanes` at a time as the
// mailer's MAILER_CONCURRENCY jobs would. No database, no queue: what SMTP alone costs.
// Arguments: smtpUrl count maxConnections lanes prefix. Prints { sent, failed, elapsedMs } as JSON.
import nodemailer from 'nodemailer';
import { renderOtpMessage } from '../../services/mailer-worker/src/mail/otp-message.ts';

const [smtpUrl = '', countArg = '0', connectionsArg = '1', lanesArg = '1', prefix = 'nodemailer'] = process.argv.slice(2);
const count = Number(countArg);
const lanes = Number(lanesArg);
const url = new URL(smtpUrl);
process.on('disconnect', () => process.exit(1));

const transport = nodemailer.createTransport({ pool: true, maxConnections: Number(connectionsArg), host: url.hostname, port: Number(url.port) });
const from = 'cheershare <no-reply@cheershare.localhost>';
let next = 0;
let sent = 0;
let failed = 0;
const started = performance.now();
await Promise.all(Array.from({ length: lanes }, async () => {
  for (let i = next++; i < count; i = next++) {
    const now = new Date();
    const code = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
    const { subject, text, html } = renderOtpMessage({ code, requestedAt: now, expiresAt: new Date(now.getTime() + 600_000) });
    try {
      await transport.sendMail({ from, to: `${prefix}-${i}@example.test`, subject, text, html });
      sent += 1;
    } catch {
      failed += 1;
    }
  }
}));
const elapsedMs = performance.now() - started;
transport.close();
process.stdout.write(`${JSON.stringify({ sent, failed, elapsedMs })}\n`, () => process.exit(0));
