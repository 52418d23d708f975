import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './types.ts';

export type Db = Kysely<Database>;

// A SQL `date` is a calendar day, not an instant: keep it as 'YYYY-MM-DD' instead of letting pg
// turn it into a Date at local midnight (which shifts days across time zones).
const DATE_OID = 1082;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === DATE_OID ? (value: string) => value : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * Kysely over a pg pool. Timeouts are short on purpose: when PostgreSQL is down a request
 * should fail fast with 503 rather than hang.
 */
export function createDatabase(opts: { url: string; poolMax?: number; applicationName?: string }): Db {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax ?? 10,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 10_000,
    application_name: opts.applicationName ?? 'cheershare',
    types,
  });
  // An idle client losing its connection emits on the pool; without a listener that crashes the process.
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
