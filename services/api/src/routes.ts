import type { Express } from 'express';
import type { Deps } from './deps.ts';
import { requireUser } from './middleware/authenticate.ts';
import { requireJson } from './middleware/require-json.ts';
import { limitPerClient } from './limits/rate-limit.ts';
import { longBodyDeadline } from './limits/body-deadline.ts';
import { handleRequestOtp } from './handlers/request-otp.ts';
import { handleVerifyOtp } from './handlers/verify-otp.ts';
import { handleVerifyMfa } from './handlers/verify-mfa.ts';
import { handleConfirmTotp, handleDisableTotp, handleStartTotp } from './handlers/mfa.ts';
import { handleRefresh } from './handlers/refresh.ts';
import { handleLogout } from './handlers/logout.ts';
import { handleListSessions, handleLogoutAll, handleRevokeSession } from './handlers/sessions.ts';
import { handleActivity } from './handlers/activity.ts';
import { limitRefusalRecorder } from './auth/events.ts';
import { handleGetMe, handleUpdateMe } from './handlers/me.ts';
import { handleHealthz, handleJwks, handleReadyz } from './handlers/health.ts';
import { handleUploadCreative, parseCreativeUpload } from './handlers/upload-creative.ts';
import { handleDeleteCreative, handleGetCreative, handleListCreatives } from './handlers/creatives.ts';
import { handleCreativeFile } from './handlers/creative-file.ts';
import { handleScheduledCreatives } from './handlers/scheduled-creatives.ts';
import { BOARD_PATH, operatorBoard } from './admin/bull-board.ts';
import { handleDocs, handleOpenApi } from './handlers/docs.ts';

/** The whole HTTP surface. */
export function addRoutes(app: Express, deps: Deps): void {
  const json = requireJson();
  const user = requireUser(deps);
  const refused = limitRefusalRecorder(deps);

  app.get('/healthz', handleHealthz());
  app.get('/readyz', handleReadyz(deps));
  app.get('/.well-known/jwks.json', handleJwks(deps));
  app.get('/openapi.json', handleOpenApi());
  app.use('/docs', ...handleDocs());

  // Operators: Bull Board, only when ADMIN_USER and ADMIN_PASSWORD are set.
  const board = operatorBoard(deps, [deps.emailQueue, deps.creativesQueue, deps.maintenanceQueue]);
  if (board) app.use(BOARD_PATH, ...board);

  // Per-client limits come before validation and any database work.
  app.post('/v1/auth/otp', limitPerClient(deps.limits.otp, refused), json, handleRequestOtp(deps));
  app.post('/v1/auth/verify', limitPerClient(deps.limits.verify, refused), json, handleVerifyOtp(deps));
  app.post('/v1/auth/mfa/verify', limitPerClient(deps.limits.mfa), json, handleVerifyMfa(deps));
  app.post('/v1/auth/refresh', limitPerClient(deps.limits.refresh, refused), json, handleRefresh(deps));
  app.post('/v1/auth/logout', user, handleLogout(deps));
  app.post('/v1/auth/logout-all', user, handleLogoutAll(deps));

  app.get('/v1/me', user, handleGetMe());
  app.patch('/v1/me', user, json, handleUpdateMe(deps));
  app.get('/v1/me/sessions', user, handleListSessions(deps));
  app.delete('/v1/me/sessions/:id', user, handleRevokeSession(deps));
  app.get('/v1/me/activity', user, handleActivity(deps));
  // Two-factor sign-in (authenticator app). Routes that take a code are limited like sign-in.
  app.post('/v1/me/mfa/totp', user, handleStartTotp(deps));
  app.post('/v1/me/mfa/totp/confirm', limitPerClient(deps.limits.mfa), user, json, handleConfirmTotp(deps));
  app.delete('/v1/me/mfa/totp', limitPerClient(deps.limits.mfa), user, json, handleDisableTotp(deps));

  // Signed-in users' uploads get the long body deadline; anyone else's body, the short one.
  app.post('/v1/creatives', user, longBodyDeadline(deps.config.http.uploadTimeoutMs), ...parseCreativeUpload(deps), handleUploadCreative(deps));
  app.get('/v1/creatives', user, handleListCreatives(deps));
  app.get('/v1/creatives/scheduled', user, handleScheduledCreatives(deps));
  app.get('/v1/creatives/:id', user, handleGetCreative(deps));
  app.delete('/v1/creatives/:id', user, handleDeleteCreative(deps));
  app.get('/v1/creatives/:id/image', user, handleCreativeFile(deps, 'image'));
  app.get('/v1/creatives/:id/thumbnail', user, handleCreativeFile(deps, 'thumbnail'));
}
