// `npm run migrate`: create the database if needed, apply pending migrations, and prepare the
// queue store (BullMQ's schema when the queues live in PostgreSQL).
import { exitOnConfigError, loadMigrateConfig } from '../config.ts';
import { redactUrl } from '../queues/backend.ts';
import { withRunningStack } from '../running-stack.ts';
import { createLogger } from '../logger.ts';
import { prepareQueueStore } from '../queues/store.ts';
import { createDatabase } from './database.ts';
import { ensureDatabaseExists, migrateToLatest } from './migrate.ts';

// With nothing configured, migrate the database of the stack `npm start` runs from this checkout, if any.
const { env, joined } = withRunningStack(process.env);
const config = exitOnConfigError(() => loadMigrateConfig(env));
const logger = createLogger({ level: config.logLevel, name: 'migrate' });
logger.info({ database: redactUrl(config.database.url), ...(joined && { runningStack: joined }) }, joined ? 'migrating the embedded database of the running npm start' : 'migrating');
// A server that is still starting (compose's first start, a restarting host) gets a little time.
const STARTING = new Set(['ECONNREFUSED', '57P03', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET']);
async function ensureDatabaseWhenUp(url: string): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await ensureDatabaseExists(url);
    } catch (err) {
      if (!STARTING.has((err as { code?: string }).code ?? '') || Date.now() > deadline) throw err;
      logger.info({ error: (err as Error).message }, 'PostgreSQL is not answering yet; trying again');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

try {
  if (await ensureDatabaseWhenUp(config.database.url)) logger.info('created database');
  // A migration may rewrite a large table: no statement deadline here.
  const db = createDatabase({ url: config.database.url, poolMax: 1, applicationName: 'cheershare-migrate', timeouts: { statementMs: 0, queryMs: 0 } });
  try {
    const { results = [] } = await migrateToLatest(db);
    for (const r of results) logger.info({ migration: r.migrationName, status: r.status }, 'migration');
    logger.info({ applied: results.length }, results.length ? 'migrations applied' : 'schema already current');
  } finally {
    await db.destroy();
  }
  if (config.queue.kind === 'postgres' && config.queue.url !== config.database.url && (await ensureDatabaseExists(config.queue.url))) {
    logger.info('created queue database');
  }
  const queues = await prepareQueueStore(config.queue);
  logger.info({ backend: config.queue.kind, result: queues }, 'queue store ready');
} catch (err) {
  logger.fatal({ err }, 'migration failed');
  process.exitCode = 1;
}
