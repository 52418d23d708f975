import type { Express } from 'express';
import type { Deps } from './deps.ts';
import { requireUser } from './middleware/authenticate.ts';
import { requireJson } from './middleware/require-json.ts';
import { limitPerClient } from './limits/rate-limit.ts';
import { longBodyDeadline } from './limits/body-deadline.ts';
import { handleRequestOtp } from './handlers/request-otp.ts';
import { handleVerifyOtp } from './handlers/verify-otp.ts';
import { handleRefresh } from './handlers/refresh.ts';
import { handleLogout } from './handlers/logout.ts';
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

  app.get('/healthz', handleHealthz());
  app.get('/readyz', handleReadyz(deps));
  app.get('/.well-known/jwks.json', handleJwks(deps));
  app.get('/openapi.json', handleOpenApi());
  app.use('/docs', ...handleDocs());

  // Operators: Bull Board, only when ADMIN_USER and ADMIN_PASSWORD are set.
  const board = operatorBoard(deps, [deps.emailQueue, deps.creativesQueue, deps.maintenanceQueue]);
  if (board) app.use(BOARD_PATH, ...board);

  // Per-client limits come before validation and any database work.
  app.post('/v1/auth/otp', limitPerClient(deps.limits.otp), json, handleRequestOtp(deps));
  app.post('/v1/auth/verify', limitPerClient(deps.limits.verify), json, handleVerifyOtp(deps));
  app.post('/v1/auth/refresh', limitPerClient(deps.limits.refresh), json, handleRefresh(deps));
  app.post('/v1/auth/logout', user, handleLogout(deps));

  app.get('/v1/me', user, handleGetMe());
  app.patch('/v1/me', user, json, handleUpdateMe(deps));

  // Signed-in users' uploads get the long body deadline; anyone else's body, the short one.
  app.post('/v1/creatives', user, longBodyDeadline(deps.config.http.uploadTimeoutMs), ...parseCreativeUpload(deps), handleUploadCreative(deps));
  app.get('/v1/creatives', user, handleListCreatives(deps));
  app.get('/v1/creatives/scheduled', user, handleScheduledCreatives(deps));
  app.get('/v1/creatives/:id', user, handleGetCreative(deps));
  app.delete('/v1/creatives/:id', user, handleDeleteCreative(deps));
  app.get('/v1/creatives/:id/image', user, handleCreativeFile(deps, 'image'));
  app.get('/v1/creatives/:id/thumbnail', user, handleCreativeFile(deps, 'thumbnail'));
}
