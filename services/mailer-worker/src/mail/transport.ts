import nodemailer, { type Transporter } from 'nodemailer';

/**
 * A pooled SMTP transport from `SMTP_URL` (`smtp://user:pass@host:port`, or `smtps://` for
 * implicit TLS). Timeouts keep a stuck server from holding a job forever.
 */
export function createSmtpTransport(opts: { url: string; timeoutMs: number; maxConnections: number }): Transporter {
  const url = new URL(opts.url);
  const secure = url.protocol === 'smtps:';
  return nodemailer.createTransport({
    pool: true,
    maxConnections: opts.maxConnections,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    connectionTimeout: opts.timeoutMs,
    greetingTimeout: opts.timeoutMs,
    socketTimeout: opts.timeoutMs,
  });
}

const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETLS']);

/**
 * Permanent failures are not worth retrying: a 5xx reply, or a message nodemailer refuses to
 * build. Network trouble and 4xx replies are transient.
 */
export function isPermanentSmtpFailure(err: unknown): boolean {
  const { responseCode, code } = (err ?? {}) as { responseCode?: number; code?: string };
  if (typeof responseCode === 'number') return responseCode >= 500;
  if (code && TRANSIENT_CODES.has(code)) return false;
  return code === 'EENVELOPE' || code === 'EMESSAGE';
}

// Failures that leave no doubt the message was not taken: nothing was connected, or the server
// never greeted us.
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const BEFORE_SESSION = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT']);

/**
 * True when the server may have the message although the send failed: the connection was lost
 * or went silent after the SMTP session began, without a reply. nodemailer does not say at which
 * command that happened (every such error reads `command: 'CONN'`), so a loss anywhere in the
 * session counts, including one after DATA, when the server may already have queued the message.
 * A reply (4xx, 5xx) and a failure to connect at all are certain.
 */
export function isUncertainSmtpFailure(err: unknown): boolean {
  const { responseCode, code, originalCode, timeoutType, message } = (err ?? {}) as {
    responseCode?: number; code?: string; originalCode?: string; timeoutType?: string; message?: string;
  };
  if (typeof responseCode === 'number') return false;
  if (code === 'ETIMEDOUT') return timeoutType === 'SOCKET_TIMEOUT';
  if (code !== 'ECONNECTION' && code !== 'ESOCKET') return false;
  if (originalCode && NOT_CONNECTED.has(originalCode)) return false;
  if (timeoutType && BEFORE_SESSION.has(timeoutType)) return false;
  return !/^connect /i.test(message ?? '');
}

/** A one-line description for the delivery record and logs. */
export function describeSmtpFailure(err: unknown): string {
  const { responseCode, code, message } = (err ?? {}) as { responseCode?: number; code?: string; message?: string };
  return [responseCode, code, message].filter(Boolean).join(' ').slice(0, 500);
}
