import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino censors wherever they appear in a log object. Codes, tokens and Authorization
 * headers must never reach logs, even when a caller logs a whole body or error by mistake.
 */
export const REDACT_PATHS = [
  // Not `*.code`: that would also hide every error's code (ECONNREFUSED …).
  'code', 'body.code', 'req.body.code', 'data.code', 'job.data.code', 'payload.code',
  'token', '*.token', 'access_token', '*.access_token', '*.*.access_token',
  'refresh_token', '*.refresh_token', '*.*.refresh_token',
  'authorization', '*.authorization', '*.*.authorization', 'req.headers.authorization',
  'headers.authorization', 'headers.cookie', '*.headers.cookie',
  'sealedCode', '*.sealedCode', '*.*.sealedCode',
  'password', '*.password', 'pass', '*.pass', '*.*.pass',
];

/**
 * Standard output that never throws: when whoever read it is gone (a killed runner, a closed
 * pipe), a write fails with EPIPE, and an unhandled stream error inside a signal handler would
 * stop the drain before it starts. Lost log lines are the lesser harm.
 */
function stdoutDestination(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: true });
  dest.on('error', () => {});
  return dest;
}

/** The one logger factory: JSON to stdout (or `destination` in tests), secrets redacted. */
export function createLogger(opts: { level: string; name: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      name: opts.name,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination ?? stdoutDestination(),
  );
}
