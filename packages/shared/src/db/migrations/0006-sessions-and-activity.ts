import { sql, type Kysely } from 'kysely';

/**
 * Account control (issue 11): what users see of their sessions and of their account's history.
 *
 * - `sessions` remember where they came from (user agent, address) and when they were last used.
 * - A rotated refresh token points at the token that replaced it (`successor_id`): presented
 *   again within the grace window it answers with the same successor (two tabs refreshing at
 *   once), after it the whole family is revoked as before.
 * - `auth_events` gain the user, the session, the address and the user agent, so the activity log
 *   can show a user their own events, newest first.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('user_agent', 'text')
    .addColumn('ip', 'text')
    .execute();
  await db.schema.alterTable('refresh_tokens')
    .addColumn('successor_id', 'uuid', (c) => c.references('refresh_tokens.id').onDelete('set null'))
    .execute();
  await db.schema.alterTable('auth_events')
    // No foreign key, and an index over every row: an event for an address with an account must
    // cost what one for an unknown address does (no key check on users, the same index write), or
    // its timing would tell the two apart.
    .addColumn('user_id', 'uuid')
    .addColumn('session_id', 'uuid')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .execute();
  await sql`create index auth_events_user_idx on auth_events (user_id, at desc, id desc)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists auth_events_user_idx`.execute(db);
  await db.schema.alterTable('auth_events').dropColumn('user_id').dropColumn('session_id').dropColumn('ip').dropColumn('user_agent').execute();
  await db.schema.alterTable('refresh_tokens').dropColumn('successor_id').execute();
  await db.schema.alterTable('sessions').dropColumn('last_used_at').dropColumn('user_agent').dropColumn('ip').execute();
}
