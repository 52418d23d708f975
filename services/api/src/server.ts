import express, { type Express } from 'express';
import type { Deps } from './deps.ts';
import { addRoutes } from './routes.ts';
import { errorHandler, notFound } from './middleware/error-handler.ts';
import { closeWhenDraining, requestContext } from './middleware/request-context.ts';
import { bodyDeadline, readBodyInTime } from './limits/body-deadline.ts';

/** Builds the Express app. It never listens: main.ts and tests do that. */
export function createServer(deps: Deps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Answers are `Cache-Control: no-store`, so an ETag (a SHA-1 of every JSON body) buys nothing.
  // Creative files set their own, from the content hash.
  app.disable('etag');
  app.set('trust proxy', deps.config.http.trustProxy);
  app.use(requestContext(deps));
  app.use(closeWhenDraining(deps));
  app.use(bodyDeadline(deps.config.http.bodyTimeoutMs), readBodyInTime(express.json({ limit: '16kb' })));
  addRoutes(app, deps);
  app.use(notFound());
  app.use(errorHandler(deps));
  return app;
}
