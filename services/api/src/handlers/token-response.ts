import type { User } from '@cheershare/shared';
import type { Deps } from '../deps.ts';
import { signAccessToken } from '../auth/access-tokens.ts';
import { presentUser } from '../users.ts';

/** The body every token-issuing endpoint returns (OAuth 2 style field names). */
export function tokenResponse(
  { keys, config }: Pick<Deps, 'keys' | 'config'>,
  args: { user: User; sessionId: string; refreshToken: string; now: Date },
) {
  return {
    token_type: 'Bearer',
    access_token: signAccessToken(keys, config.jwt, { sub: args.user.id, sid: args.sessionId }, args.now),
    expires_in: config.jwt.accessTtlSeconds,
    refresh_token: args.refreshToken,
    user: presentUser(args.user),
  };
}
