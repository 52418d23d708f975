import { inject, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest } from '../src/index.ts';

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
});
