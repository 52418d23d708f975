import { sql } from 'kysely';
import type { Db } from './database.ts';

/**
 * Resolves when PostgreSQL accepts writes (readiness): a standby in recovery, or a session that is
 * read-only by default, answers `select 1` and refuses every write, so it is not ready.
 */
export async function databaseWritable(db: Db): Promise<void> {
  const { rows } = await sql<{ recovering: boolean; read_only: string }>`select pg_is_in_recovery() as recovering, current_setting('transaction_read_only') as read_only`.execute(db);
  const row = rows[0];
  if (!row) throw new Error('PostgreSQL did not say whether it accepts writes');
  if (row.recovering) throw new Error('PostgreSQL is in recovery (a standby): it accepts no writes');
  if (row.read_only === 'on') throw new Error('PostgreSQL sessions are read-only (default_transaction_read_only): no writes');
}
