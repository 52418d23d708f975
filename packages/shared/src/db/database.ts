import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './types.ts';

export type Db = Kysely<Database>;

// The pool behind each Db, for the few hot statements that run as named prepared statements, and
// whether its connections are PostgreSQL sessions of their own (no transaction-mode pooler between).
const pools = new WeakMap<Db, { pool: pg.Pool; sessions: boolean }>();

/**
 * What stands between the pools and PostgreSQL (DATABASE_POOLER). `pgbouncer`: a pooler in
 * transaction mode, which hands each transaction to any of its server connections, so nothing may
 * rely on session state: hot statements run unnamed (a named one would be missing, or already
 * defined, on the next server connection; PgBouncer 1.18 cannot track them), and the session
 * deadlines (statement_timeout, idle_in_transaction_session_timeout) are not sent at start-up,
 * which PgBouncer refuses ("unsupported startup parameter"): the server's role or database
 * settings, or PgBouncer's connect_query, must provide them. Client-side deadlines still bound
 * every query.
 */
export type DatabasePooler = 'none' | 'pgbouncer';

// A SQL `date` is a calendar day, not an instant: keep it as 'YYYY-MM-DD' instead of letting pg
// turn it into a Date at local midnight (which shifts days across time zones).
const DATE_OID = 1082;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === DATE_OID ? (value: string) => value : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Deadlines of a database pool, in milliseconds; 0 turns one off (PostgreSQL's or the OS's default applies). */
export interface DatabaseTimeouts {
  /** Opening a connection (TCP, start-up, authentication) and waiting for a free one in the pool. */
  connectMs: number;
  /** Server side (statement_timeout): PostgreSQL cancels a slow statement; the connection stays usable. Not sent through a pooler (DatabasePooler). */
  statementMs: number;
  /** Client side (pg's query_timeout): no answer by then means the network is gone; the connection is dropped. */
  queryMs: number;
  /** Server side: a session left idle inside a transaction this long is ended, releasing its locks. Not sent through a pooler. */
  idleInTransactionMs: number;
  /** TCP keepalive probes start after this much silence on a connection. */
  keepAliveDelayMs: number;
}

/**
 * The deadlines every service gets unless it asks otherwise, chosen so that the API answers 503
 * within 5 s when the network to PostgreSQL blackholes (packets dropped, nothing refused):
 * - A database call is two waits: for a connection (connectMs, whether it opens one or waits for a
 *   busy pool to free one) and for the answer (queryMs). In a blackhole the first wait that stalls
 *   fails the call, and the first failed call ends the request (a request's calls run one after
 *   another). So a request that meets an outage already under way answers within
 *   max(2, 2.5) = 2.5 s however many calls it makes, its earlier calls having taken their usual
 *   milliseconds; the worst case, an outage that starts just as a call got its connection from a
 *   saturated pool, is 2 + 2.5 = 4.5 s.
 * - statementMs < queryMs: a statement that is merely slow is cancelled by the server first
 *   (SQLSTATE 57014, a 503) and its connection stays usable; queryMs fires only when no answer
 *   comes at all, and then the connection is dropped (see DeadlineClient).
 * - In a transaction, that drop makes Kysely's ROLLBACK fail at once instead of queueing behind the
 *   lost statement for another queryMs. The server rolls the transaction back when the session
 *   ends, or after idleInTransactionMs if the news never reaches it (no statement of ours leaves a
 *   transaction idle for seconds).
 * - Keepalive finds a silently dead idle connection 5 s + 10 probes 1 s apart after its last
 *   traffic (Node sets the interval and count) instead of the kernel's two hours. It cannot help a
 *   connection with a query in flight (TCP retransmits for ~15 minutes): that is queryMs's job.
 * Statements that may legitimately run longer (migrations, bulk clean-ups) need a caller's own
 * timeouts.
 */
export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = {
  connectMs: 2_000,
  statementMs: 2_000,
  queryMs: 2_500,
  idleInTransactionMs: 5_000,
  keepAliveDelayMs: 5_000,
};

/** pg's message for a query_timeout (pg 8: node_modules/pg/lib/client.js). */
const QUERY_TIMEOUT_MESSAGE = 'Query read timeout';

type Done = (err: Error | undefined, res?: unknown) => void;
type LooseQuery = (config: unknown, values?: unknown, callback?: Done) => unknown;

/**
 * A pg client that never outlives a query deadline. On query_timeout pg fails the query but leaves
 * it in flight on the socket and the client looks healthy: Kysely releases it to the pool without
 * an error, and the next query on it would queue behind an answer that may never come. So a
 * timed-out client ends itself (its socket is destroyed, as pg does for a hung query), and the
 * pool drops it on release.
 */
export class DeadlineClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super(config);
    // A connection that breaks while checked out fails its queries, then emits 'error' on the
    // client, where pg-pool listens only while the client is idle: unheard, it would crash the process.
    this.on('error', () => {});
  }

  // pg.Client.query's callback and promise forms, typed loosely here (its overloads cannot be
  // forwarded one by one); cursors and other submittables pass through untouched.
  override query(config: unknown, values?: unknown, callback?: unknown): never {
    const run = super.query.bind(this) as unknown as LooseQuery;
    if (typeof (config as { submit?: unknown } | null)?.submit === 'function') return run(config, values, callback as Done) as never;
    const done = (typeof values === 'function' ? values : callback) as Done | undefined;
    const args = typeof values === 'function' ? undefined : values;
    const settle = (err: Error | undefined) => {
      if (err?.message === QUERY_TIMEOUT_MESSAGE) void this.end();
    };
    if (done) {
      return run(config, args, (err, res) => {
        settle(err);
        done(err, res);
      }) as never;
    }
    return new Promise((resolve, reject) => {
      run(config, args, (err, res) => {
        settle(err);
        if (err) reject(err);
        else resolve(res);
      });
    }) as never;
  }
}

const UNAVAILABLE_STATES = new Set(['25P03', '53300', '57014', '57P01', '57P02', '57P03', '57P05']);
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
const UNAVAILABLE_MESSAGES = new RegExp([
  QUERY_TIMEOUT_MESSAGE,
  'timeout exceeded when trying to connect', // waiting for a free connection
  'Connection terminated', // '... unexpectedly', '... due to connection timeout'
  'timeout expired', // a lone client's connectionTimeoutMillis
  'is not queryable', // a client already ended or broken (e.g. Kysely's ROLLBACK after a timeout)
].join('|'), 'i');

/**
 * Whether `err` means PostgreSQL cannot be reached or did not answer in time (a 503 the client may
 * retry), as opposed to a statement that PostgreSQL refused: network errors, this pool's deadlines
 * and broken connections, SQLSTATE class 08 (connection exception), 25P03 (idle in transaction
 * too long), 53300 (too many connections), 57014 (statement timeout) and 57P0x (server shutting
 * down or starting, session idle too long).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_STATES.has(code) || NETWORK_ERRORS.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  if (UNAVAILABLE_MESSAGES.test(err.message)) return true;
  // A host name with several addresses fails with every one of them.
  if (err instanceof AggregateError && err.errors.some(isDatabaseUnavailable)) return true;
  return err.cause !== undefined && err.cause !== err && isDatabaseUnavailable(err.cause);
}

/**
 * Kysely over a pg pool with a deadline on everything (see DEFAULT_DATABASE_TIMEOUTS): when
 * PostgreSQL is down or unreachable a request fails fast with 503 rather than hang, and the pool
 * heals on its own once PostgreSQL answers again.
 */
export function createDatabase(opts: { url: string; poolMax?: number; applicationName?: string; timeouts?: Partial<DatabaseTimeouts>; pooler?: DatabasePooler }): Db {
  const t = { ...DEFAULT_DATABASE_TIMEOUTS, ...opts.timeouts };
  const sessions = (opts.pooler ?? 'none') === 'none';
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax ?? 10,
    Client: DeadlineClient,
    connectionTimeoutMillis: t.connectMs,
    idleTimeoutMillis: 30_000,
    ...(sessions && { statement_timeout: t.statementMs, idle_in_transaction_session_timeout: t.idleInTransactionMs }),
    query_timeout: t.queryMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: t.keepAliveDelayMs,
    application_name: opts.applicationName ?? 'cheershare',
    types,
  });
  // An idle client losing its connection emits on the pool; without a listener that crashes the process.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, { pool, sessions });
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
 * Behind a transaction-mode pooler (DatabasePooler) it runs unnamed, parsed on every call.
 */
export function statement<Row>(name: string, text: string): Statement<Row> {
  return {
    async run(db, values) {
      const entry = pools.get(db);
      if (!entry) throw new Error(`statement ${name}: this Db was not made by createDatabase`);
      const query = entry.sessions ? { name, text, values } : { text, values };
      return (await entry.pool.query<Row & pg.QueryResultRow>(query)).rows;
    },
  };
}
