// `npm run migrate`: create the database if needed and apply pending migrations.
import { loadMigrateConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { createDatabase } from './database.ts';
import { ensureDatabaseExists, migrateToLatest } from './migrate.ts';

const config = loadMigrateConfig(process.env);
const logger = createLogger({ level: config.logLevel, name: 'migrate' });
try {
  if (await ensureDatabaseExists(config.database.url)) logger.info('created database');
  const db = createDatabase({ url: config.database.url, poolMax: 1, applicationName: 'cheershare-migrate' });
  try {
    const { results = [] } = await migrateToLatest(db);
    for (const r of results) logger.info({ migration: r.migrationName, status: r.status }, 'migration');
    logger.info({ applied: results.length }, results.length ? 'migrations applied' : 'schema already current');
  } finally {
    await db.destroy();
  }
} catch (err) {
  logger.fatal({ err }, 'migration failed');
  process.exitCode = 1;
}
