import type { Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationResultSet } from 'kysely/migration';
import pg from 'pg';
import * as signIn from './migrations/0001-sign-in.ts';
import * as creatives from './migrations/0002-creatives.ts';
import * as oneStatementSignIn from './migrations/0003-one-statement-sign-in.ts';
import * as requesterBoundCodes from './migrations/0004-requester-bound-codes.ts';
import * as deliveryClaims from './migrations/0005-delivery-claims.ts';
import * as sessionsAndActivity from './migrations/0006-sessions-and-activity.ts';
import * as totpMfa from './migrations/0007-totp-mfa.ts';

/** Every migration, in order. Listed explicitly so they load the same from sources, tests and bundles. */
const migrations: Record<string, Migration> = {
  '0001-sign-in': signIn,
  '0002-creatives': creatives,
  '0003-one-statement-sign-in': oneStatementSignIn,
  '0004-requester-bound-codes': requesterBoundCodes,
  '0005-delivery-claims': deliveryClaims,
  '0006-sessions-and-activity': sessionsAndActivity,
  '0007-totp-mfa': totpMfa,
};

/** Applies pending migrations; a no-op when the schema is current, so it is safe to run twice. */
// Migrations see the database untyped: they must not depend on today's table types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: { getMigrations: () => Promise.resolve(migrations) } });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error instanceof Error ? result.error : new Error(JSON.stringify(result.error));
  return result;
}

/** Creates the database named in `url` when it does not exist yet (first run on a fresh server). */
export async function ensureDatabaseExists(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`create database "${name.replaceAll('"', '""')}"`);
    return true;
  } catch (err) {
    // Two migrators racing on a fresh server (several hosts starting at once): the loser sees the
    // database already made (42P04), or, when both got past the check above, the catalogue's
    // unique index refusing the second row (23505).
    const code = (err as { code?: string }).code;
    if (code === '42P04' || code === '23505') return false;
    throw err;
  } finally {
    await client.end();
  }
}
