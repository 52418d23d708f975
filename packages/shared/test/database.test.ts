import { sql } from 'kysely';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createDatabase, isDatabaseUnavailable, type DatabaseTimeouts, type Db } from '../src/index.ts';
import { startTcpProxy, waitUntil, type TcpProxy } from '../src/testing/index.ts';

describe('the database pool', () => {
  const opened: Db[] = [];
  let proxy: TcpProxy | undefined;
  const open = (timeouts: Partial<DatabaseTimeouts>, url = inject('databaseUrl'), poolMax = 1) => {
    const db = createDatabase({ url, poolMax, timeouts });
    opened.push(db);
    return db;
  };
  const failure = (p: Promise<unknown>) => p.then(() => new Error('expected a failure'), (err: unknown) => err);
  afterEach(async () => {
    proxy?.restore();
    await Promise.all(opened.splice(0).map((db) => db.destroy()));
    await proxy?.close();
    proxy = undefined;
  });
  const proxied = async (timeouts: Partial<DatabaseTimeouts>, poolMax = 1) => {
    const target = new URL(inject('databaseUrl'));
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    return open(timeouts, proxy.via(inject('databaseUrl')), poolMax);
  };

  it('drops a connection whose query outlived its deadline: the next query does not queue behind it', async () => {
    const db = open({ queryMs: 300, statementMs: 10_000 });
    await expect(sql`select pg_sleep(3)`.execute(db)).rejects.toThrow('Query read timeout');
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
    expect(rows).toEqual([{ one: 1 }]);
  });

  it('fails a transaction at its statement deadline: the rollback does not wait for another', async () => {
    const db = open({ queryMs: 1_000, statementMs: 10_000 });
    const started = Date.now();
    const err = await failure(db.transaction().execute(async (trx) => sql`select pg_sleep(4)`.execute(trx)));
    expect(Date.now() - started).toBeLessThan(1_800);
    expect(isDatabaseUnavailable(err), String(err)).toBe(true);
    await expect(sql`select 1`.execute(db)).resolves.toBeDefined();
  });

  it('fails a transaction whose connection is reset mid-statement, and keeps the process standing', async () => {
    const db = await proxied({ queryMs: 5_000 });
    await sql`select 1`.execute(db);
    proxy!.blackhole();
    const running = failure(db.transaction().execute(async (trx) => sql`select 1`.execute(trx)));
    await waitUntil(() => proxy!.heldBytes() > 0, 'the transaction to reach the blackhole');
    // The broken client emits 'error' while Kysely holds it; unheard, that is an uncaught exception.
    const uncaught: unknown[] = [];
    const record = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', record);
    try {
      proxy!.reset();
      proxy!.restore();
      const err = await running;
      expect(isDatabaseUnavailable(err), String(err)).toBe(true);
    } finally {
      process.off('uncaughtException', record);
    }
    expect(uncaught).toEqual([]);
    await expect(sql`select 1`.execute(db)).resolves.toBeDefined();
  });

  it('tells an unreachable or overwhelmed PostgreSQL from a statement it refused', async () => {
    const refused = open({}, 'postgres://postgres@127.0.0.1:1/none');
    const statementTimeout = open({ statementMs: 100, queryMs: 5_000 });
    const db = open({});
    const busy = open({ connectMs: 200, statementMs: 5_000, queryMs: 5_000 });
    const holding = sql`select pg_sleep(1)`.execute(busy);
    const unavailable = await Promise.all([
      failure(sql`select 1`.execute(refused)),
      failure(sql`select pg_sleep(1)`.execute(statementTimeout)),
      failure(sql`select 1`.execute(busy)), // no free connection in time
    ]);
    await holding;
    const blackholed = await proxied({ connectMs: 300 });
    proxy!.blackhole();
    unavailable.push(await failure(sql`select 1`.execute(blackholed)));
    for (const err of unavailable) expect(isDatabaseUnavailable(err), String(err)).toBe(true);

    const refusedStatements = await Promise.all([
      failure(sql`selec 1`.execute(db)),
      failure(sql`select 1 / 0`.execute(db)),
      failure(sql`select 'x'::int`.execute(db)),
    ]);
    for (const err of refusedStatements) expect(isDatabaseUnavailable(err), String(err)).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
    expect(isDatabaseUnavailable('Connection terminated')).toBe(false);
  });
});
