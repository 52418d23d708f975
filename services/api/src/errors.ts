import { z } from 'zod';

/** The one error type handlers throw; errorHandler maps it to `{"error":{"code","message"}}`. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export const unauthorized = (message = 'Authentication required.') =>
  new HttpError(401, 'unauthorized', message, { 'WWW-Authenticate': 'Bearer realm="cheershare"' });

export const invalidToken = (message = 'The access token is missing, malformed, expired or revoked.') =>
  new HttpError(401, 'invalid_token', message, { 'WWW-Authenticate': 'Bearer realm="cheershare", error="invalid_token"' });

/** The one error shape every 4xx and 5xx answer has. */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.string().meta({ example: 'invalid_request' }),
    message: z.string(),
    details: z.array(z.object({ path: z.string(), message: z.string() })).optional().meta({ description: 'On a 400: the offending fields.' }),
    request_id: z.string().optional().meta({ description: 'On a 500: quote it when reporting the problem.' }),
  }),
}).meta({ id: 'Error' });
