// The API reference: OpenAPI 3.1 built from the same zod schemas that validate requests and
// describe responses (they live beside their routes). Served at /openapi.json; /docs renders it.
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import { ErrorSchema } from './errors.ts';
import { HealthSchema, JwksSchema, ReadinessSchema } from './handlers/health.ts';
import { OtpRequestedSchema, RequestOtpSchema } from './handlers/request-otp.ts';
import { VerifyOtpSchema } from './handlers/verify-otp.ts';
import { RefreshSchema } from './handlers/refresh.ts';
import { TokenResponseSchema } from './handlers/token-response.ts';
import { MeSchema, UpdateMeSchema } from './handlers/me.ts';
import { LogoutAllSchema, SessionListSchema } from './handlers/sessions.ts';
import { ActivityListSchema, ActivityQuerySchema } from './handlers/activity.ts';
import { MfaRequiredSchema, VerifyMfaSchema } from './handlers/verify-mfa.ts';
import { ConfirmTotpSchema, DisableTotpSchema, RecoveryCodesSchema, TotpEnrolmentSchema } from './handlers/mfa.ts';
import { UploadCreativeSchema } from './handlers/upload-creative.ts';
import { CreativeEnvelopeSchema, CreativeListSchema, ListCreativesQuerySchema } from './handlers/creatives.ts';
import { ScheduledQuerySchema, ScheduledSchema } from './handlers/scheduled-creatives.ts';

const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });
const ok = (description: string, schema: z.ZodType) => ({ description, ...json(schema) });
const ERRORS: Record<string, string> = {
  400: 'The request is not valid (`details` names the fields).',
  401: 'Missing, malformed, expired or revoked credentials.',
  403: 'Refused: a wrong or used second-factor code, or a sign-in too old to change two-factor settings (`recent_sign_in_required`).',
  404: 'No such resource (also for other users\' creatives and sessions).',
  408: 'The body did not arrive within its deadline (`Connection: close`).',
  409: 'Not possible in the account\'s current state (`code` says which).',
  413: 'The body is too large.',
  415: 'The body is not of an accepted type.',
  429: 'Over a limit (per client, or the service-wide email budget); `Retry-After` says when to ask again.',
  431: 'The request headers are too large (answered before routing, on any path).',
  500: 'Something went wrong on our side.',
  503: 'A backing service is unavailable; `Retry-After` says when to try again.',
};
/** Error responses, in the one error shape, for these statuses (431 and 500 always). */
function errors(...statuses: number[]): ZodOpenApiResponsesObject {
  return Object.fromEntries([...statuses, 431, 500].map((s) => [String(s), { description: ERRORS[s]!, ...(s === 429 && { headers: RATE_LIMIT_HEADERS }), ...json(ErrorSchema) }]));
}
// draft-ietf-httpapi-ratelimit-headers; the per-client limits send them on every answer.
const RATE_LIMIT_HEADERS = {
  'Retry-After': { description: 'Seconds until a request may succeed.', schema: { type: 'integer' as const } },
  'RateLimit-Policy': { description: 'The client limit, e.g. `"otp";q=10;w=600` (10 per 600 s).', schema: { type: 'string' as const } },
  'RateLimit': { description: 'What is left of it, e.g. `"otp";r=0;t=420` (none left, resets in 420 s).', schema: { type: 'string' as const } },
};
const bearer = [{ bearer: [] }];
const body = (schema: z.ZodType) => ({ required: true, ...json(schema) });
const creativeId = { path: z.object({ id: z.uuid() }) };
const image = (what: string): ZodOpenApiOperationObject => ({
  summary: `The ${what} of a ready creative`,
  security: bearer,
  requestParams: creativeId,
  responses: {
    200: { description: 'The image bytes, with a strong ETag (its SHA-256).', content: { 'image/*': { schema: z.string().meta({ format: 'binary' }) } } },
    304: { description: 'Not modified (If-None-Match matched).' },
    ...errors(401, 404, 503),
  },
});

export function buildOpenApiDocument(version: string) {
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'cheershare API',
      version,
      description: 'Passwordless sign-in by emailed one-time code, and scheduled creatives. Every error has the one shape `Error`.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths: {
      '/healthz': { get: { summary: 'The process is alive', responses: { 200: ok('Alive.', HealthSchema) } } },
      '/readyz': {
        get: {
          summary: 'Ready for traffic: PostgreSQL and the queue store answer, not draining',
          responses: { 200: ok('Ready.', ReadinessSchema), 503: ok('Not ready; `checks` says why.', ReadinessSchema) },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          summary: 'Public keys that verify access tokens: the signing key and any verify-only ones, each with its kid',
          responses: { 200: ok('JWK Set, `Cache-Control: public, max-age=300`, with a strong ETag.', JwksSchema), 304: { description: 'Not modified (If-None-Match matched).' } },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { 200: ok('OpenAPI 3.1.', z.record(z.string(), z.unknown())) } } },
      '/v1/auth/otp': {
        post: {
          summary: 'Email a sign-in code; the challenge_id in the answer goes back with it (same answer for every address)',
          requestBody: body(RequestOtpSchema),
          responses: { 202: ok('The code is durably queued for sending.', OtpRequestedSchema), ...errors(400, 408, 413, 415, 429, 503) },
        },
      },
      '/v1/auth/verify': {
        post: {
          summary: 'Trade a code for tokens (the first success creates the account); with MFA on, for an mfa_token',
          requestBody: body(VerifyOtpSchema),
          responses: {
            200: ok('Signed in; or, with MFA on, `mfa_required` and the mfa_token for /v1/auth/mfa/verify (no tokens yet).', z.union([TokenResponseSchema, MfaRequiredSchema])),
            ...errors(400, 408, 401, 413, 415, 429, 503),
          },
        },
      },
      '/v1/auth/mfa/verify': {
        post: {
          summary: 'Finish a sign-in with MFA on: the authenticator app\'s code or a recovery code',
          requestBody: body(VerifyMfaSchema),
          responses: {
            200: ok('Signed in.', TokenResponseSchema),
            ...errors(400, 408, 401, 413, 415, 429, 503),
          },
        },
      },
      '/v1/auth/refresh': {
        post: {
          summary: 'Rotate the refresh token (reusing a rotated one revokes the session, but within REFRESH_REUSE_GRACE_SECONDS answers the same new pair)',
          requestBody: body(RefreshSchema),
          responses: { 200: ok('New tokens.', TokenResponseSchema), ...errors(400, 408, 401, 413, 415, 429, 503) },
        },
      },
      '/v1/auth/logout': {
        post: { summary: 'End this session', security: bearer, responses: { 204: { description: 'Signed out.' }, ...errors(401, 503) } },
      },
      '/v1/auth/logout-all': {
        post: {
          summary: 'End every session of the account, or every other one with keep_current',
          security: bearer,
          requestBody: { required: false, ...json(LogoutAllSchema) },
          responses: { 204: { description: 'Signed out everywhere (but here, with keep_current).' }, ...errors(400, 401, 408, 413, 415, 503) },
        },
      },
      '/v1/me': {
        get: { summary: 'The signed-in user', security: bearer, responses: { 200: ok('The user.', MeSchema), ...errors(401, 404, 503) } },
        patch: {
          summary: 'Rename (null clears the name)',
          security: bearer,
          requestBody: body(UpdateMeSchema),
          responses: { 200: ok('The user.', MeSchema), ...errors(400, 401, 404, 408, 413, 415, 503) },
        },
      },
      '/v1/me/sessions': {
        get: { summary: 'My active sessions, most recently used first', security: bearer, responses: { 200: ok('The sessions.', SessionListSchema), ...errors(401, 503) } },
      },
      '/v1/me/sessions/{id}': {
        delete: {
          summary: 'End one of my sessions (its tokens stop working at once)',
          security: bearer,
          requestParams: { path: z.object({ id: z.uuid() }) },
          responses: { 204: { description: 'Ended.' }, ...errors(401, 404, 503) },
        },
      },
      '/v1/me/activity': {
        get: {
          summary: 'My account\'s sign-in and session events, newest first',
          security: bearer,
          requestParams: { query: ActivityQuerySchema },
          responses: { 200: ok('A page.', ActivityListSchema), ...errors(400, 401, 503) },
        },
      },
      '/v1/me/mfa/totp': {
        post: {
          summary: 'Start two-factor sign-in: a new authenticator-app secret (pending until confirmed)',
          security: bearer,
          responses: { 201: ok('The secret and its otpauth:// URI (for a QR code).', TotpEnrolmentSchema), ...errors(401, 403, 409, 503) },
        },
        delete: {
          summary: 'Turn two-factor sign-in off, with a current app code or a recovery code',
          security: bearer,
          requestBody: body(DisableTotpSchema),
          responses: { 204: { description: 'Off; the recovery codes are gone.' }, ...errors(400, 401, 403, 408, 409, 413, 415, 429, 503) },
        },
      },
      '/v1/me/mfa/totp/confirm': {
        post: {
          summary: 'Turn two-factor sign-in on with the app\'s first code (again later: new recovery codes)',
          security: bearer,
          requestBody: body(ConfirmTotpSchema),
          responses: { 200: ok('On. The recovery codes, shown this once.', RecoveryCodesSchema), ...errors(400, 401, 403, 408, 409, 413, 415, 429, 503) },
        },
      },
      '/v1/creatives': {
        post: {
          summary: 'Upload a creative for a day',
          security: bearer,
          requestBody: { required: true, content: { 'multipart/form-data': { schema: UploadCreativeSchema } } },
          responses: { 202: ok('Stored; processing is queued.', CreativeEnvelopeSchema), ...errors(400, 408, 401, 413, 415, 503) },
        },
        get: {
          summary: 'My creatives, newest first',
          security: bearer,
          requestParams: { query: ListCreativesQuerySchema },
          responses: { 200: ok('A page.', CreativeListSchema), ...errors(400, 401, 503) },
        },
      },
      '/v1/creatives/scheduled': {
        get: {
          summary: 'Everyone\'s ready creatives going live today and tomorrow, in a time zone',
          security: bearer,
          requestParams: { query: ScheduledQuerySchema },
          responses: { 200: ok('The feed.', ScheduledSchema), ...errors(400, 401, 503) },
        },
      },
      '/v1/creatives/{id}': {
        get: { summary: 'One of my creatives', security: bearer, requestParams: creativeId, responses: { 200: ok('The creative.', CreativeEnvelopeSchema), ...errors(401, 404, 503) } },
        delete: { summary: 'Delete one of my creatives', security: bearer, requestParams: creativeId, responses: { 204: { description: 'Deleted.' }, ...errors(401, 404, 503) } },
      },
      '/v1/creatives/{id}/image': { get: image('normalised image') },
      '/v1/creatives/{id}/thumbnail': { get: image('WebP thumbnail') },
    },
  });
}
