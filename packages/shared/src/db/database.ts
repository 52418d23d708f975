import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './types.ts';

export type Db = Kysely<Database>;

// The pool behind each Db, for the few hot statements that run as named prepared statements.
const pools = new WeakMap<Db, pg.Pool>();

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
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/** One SQL statement run as a named prepared statement: parsed and planned once per connection. */
export interface Statement<Row> {
  run(db: Db, values: unknown[]): Promise<Row[]>;
}

/**
 * A statement for a hot path. A named prepared statement skips PostgreSQL's parse and plan on
 * every call after a connection's first, and skips Kysely's query building; everything else goes
 * through Kysely. It runs on its own (autocommit), so it is for work that one statement completes.
 */
export function statement<Row>(name: string, text: string): Statement<Row> {
  return {
    async run(db, values) {
      const pool = pools.get(db);
      if (!pool) throw new Error(`statement ${name}: this Db was not made by createDatabase`);
      return (await pool.query<Row & pg.QueryResultRow>({ name, text, values })).rows;
    },
  };
}
