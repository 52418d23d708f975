import { z } from 'zod';
import type { User } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { signAccessToken } from '../auth/access-tokens.ts';
import { presentUser, UserSchema } from '../users.ts';

export const TokenResponseSchema = z.object({
  token_type: z.literal('Bearer'),
  access_token: z.string().meta({ description: 'ES256 JWT; verify it with /.well-known/jwks.json.' }),
  expires_in: z.int().positive().meta({ description: 'Seconds the access token lives.' }),
  refresh_token: z.string(),
  user: UserSchema,
}).meta({ id: 'TokenResponse' });

/** The body every token-issuing endpoint returns (OAuth 2 style field names). */
export function tokenResponse(
  { keys, config }: Pick<Deps, 'keys' | 'config'>,
  args: { user: User; sessionId: string; refreshToken: string; now: Date },
) {
  return {
    token_type: 'Bearer' as const,
    access_token: signAccessToken(keys, config.jwt, { sub: args.user.id, sid: args.sessionId }, args.now),
    expires_in: config.jwt.accessTtlSeconds,
    refresh_token: args.refreshToken,
    user: presentUser(args.user),
  };
}
