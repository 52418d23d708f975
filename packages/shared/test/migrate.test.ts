import { inject, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createDatabase, migrateToLatest } from '../src/index.ts';
import { ensureDatabaseExists } from '../src/db/migrate.ts';

describe('migrations', () => {
  it('are safe to run again on a current schema', async () => {
    const db = createDatabase({ url: inject('databaseUrl'), poolMax: 1 });
    try {
      const { results } = await migrateToLatest(db);
      expect(results).toEqual([]);
    } finally {
      await db.destroy();
    }
  });

  it('creates a missing database once when several hosts race to create it', async () => {
    const url = new URL(inject('databaseUrl'));
    url.pathname = `/${url.pathname.slice(1)}_race_${process.pid}`;
    const admin = new pg.Client({ connectionString: inject('databaseUrl') });
    await admin.connect();
    try {
      const created = await Promise.all(Array.from({ length: 8 }, () => ensureDatabaseExists(url.toString())));
      expect(created.filter(Boolean)).toHaveLength(1);
      expect((await admin.query('select 1 from pg_database where datname = $1', [url.pathname.slice(1)])).rowCount).toBe(1);
    } finally {
      await admin.query(`drop database if exists "${url.pathname.slice(1)}"`);
      await admin.end();
    }
  });
});
