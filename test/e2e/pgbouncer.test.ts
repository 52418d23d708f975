import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, isDatabaseUnavailable } from '@cheershare/shared';
import { testQueueBackend, uniqueEmail } from '@cheershare/shared/testing';
import { findPgBouncer, startPgBouncer, type PgBouncer } from './pgbouncer.ts';
import { startStack, type Stack } from './stack.ts';

const POOL_SIZE = 3;
const USERS = 24;

// The app's database through PgBouncer in transaction mode, as many clients as three services'
// pools (10 each) on 3 server connections. BullMQ's PostgreSQL backend cannot go through it
// (LISTEN/NOTIFY and a search_path in the start-up `options`), so on that backend the queues use
// the database directly (QUEUE_DATABASE_URL), which is what the README tells operators to do.
describe('through PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer)', () => {
  const direct = inject('databaseUrl');
  let bouncer: PgBouncer;
  let stack: Stack;
  let monitor: pg.Client;
  // Without pgbouncer every test fails (not skips) with the message naming the package.
  let missing: Error | undefined;
  const needPgBouncer = () => {
    if (missing) throw missing;
  };
  beforeAll(async () => {
    // Session deadlines cannot come as start-up parameters through PgBouncer: its connect_query
    // gives them to every server connection (ALTER ROLE … SET would do the same).
    try {
      findPgBouncer();
    } catch (err) {
      missing = err as Error;
      return;
    }
    bouncer = await startPgBouncer({
      target: direct, poolMode: 'transaction', poolSize: POOL_SIZE,
      connectQuery: 'set statement_timeout = 2000; set idle_in_transaction_session_timeout = 5000',
    });
    stack = await startStack({
      DATABASE_URL: bouncer.url, DATABASE_POOLER: 'pgbouncer',
      ...(testQueueBackend() === 'postgres' && { QUEUE_DATABASE_URL: direct }),
    }, { scheduler: true });
    monitor = new pg.Client({ connectionString: direct });
    await monitor.connect();
  });
  afterAll(async () => {
    await stack?.stop();
    await monitor?.end();
    await bouncer?.close();
  });

  // What PostgreSQL itself sees: its sessions whose client is one of PgBouncer's server connections.
  async function sessionsFromPgBouncer(): Promise<number> {
    const { ports } = await bouncer.serverConnections();
    const { rows } = await monitor.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = current_database() and client_port = any($1)', [ports]);
    return rows[0]!.n;
  }

  it('signs users in end to end with concurrent requests, on at most 3 server connections', async () => {
    needPgBouncer();
    const peak = { servers: 0, sessions: 0, waiting: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        // One after another: PgBouncer's console is one connection.
        const { count } = await bouncer.serverConnections();
        const sessions = await sessionsFromPgBouncer();
        const waiting = await bouncer.waitingClients();
        peak.servers = Math.max(peak.servers, count);
        peak.sessions = Math.max(peak.sessions, sessions);
        peak.waiting = Math.max(peak.waiting, waiting);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      const signIn = async () => {
        const email = uniqueEmail('pooled');
        const { challengeId, code } = await stack.requestCode(email);
        // A wrong guess first: the failure is counted by one of the hot statements (statement()).
        const wrong = String((Number(code) + 1) % 1e6).padStart(code.length, '0');
        expect((await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code: wrong } })).status).toBe(401);
        const verified = await stack.call('POST', '/v1/auth/verify', { json: { challenge_id: challengeId, code } });
        expect(verified.status).toBe(200);
        expect((await stack.call('GET', '/v1/me', { token: verified.body.access_token })).body.user.email).toBe(email);
        const refreshed = await stack.call('POST', '/v1/auth/refresh', { json: { refresh_token: verified.body.refresh_token } });
        expect(refreshed.status).toBe(200);
        expect((await stack.call('GET', '/v1/me', { token: refreshed.body.access_token })).status).toBe(200);
      };
      await Promise.all(Array.from({ length: USERS }, signIn));
    } finally {
      sampling = false;
      await sampler;
    }
    expect(peak.servers).toBeGreaterThan(0);
    expect(peak.servers).toBeLessThanOrEqual(POOL_SIZE);
    expect(peak.sessions).toBeLessThanOrEqual(POOL_SIZE);
    // More clients wanted a connection than PgBouncer had: the pool was the limit, not the load.
    expect(peak.waiting).toBeGreaterThan(0);
    // Every code went out once and every delivery was recorded (the mailer's hot statements).
    const recipients = stack.sink.mails.filter((m) => m.to.some((t) => t.startsWith('pooled-'))).length;
    expect(recipients).toBe(USERS);
  });

  it('keeps the server-side statement deadline (from connect_query): a slow statement is cancelled, the connection stays usable', async () => {
    needPgBouncer();
    const db = createDatabase({ url: bouncer.url, poolMax: 1, pooler: 'pgbouncer' });
    try {
      const started = Date.now();
      const slow = await sql`select pg_sleep(3)`.execute(db).catch((err: unknown) => err);
      expect(slow).toMatchObject({ code: '57014' });
      expect(isDatabaseUnavailable(slow)).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_500);
      expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
    }
  });

  it('is refused without DATABASE_POOLER: PgBouncer rejects the session parameters, and readiness says so', async () => {
    needPgBouncer();
    const { proc, base } = await stack.startApi({ DATABASE_POOLER: '' });
    try {
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: Record<string, boolean> }).checks.database).toBe(false);
      const asked = await fetch(`${base}/v1/auth/otp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: uniqueEmail() }) });
      expect(asked.status).toBe(503);
    } finally {
      await proc.stop();
    }
  });
});
