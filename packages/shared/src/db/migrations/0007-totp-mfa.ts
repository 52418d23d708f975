import type { Kysely } from 'kysely';

/** Authenticator-app MFA (issue 11): filled in with the MFA work. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unused-vars
export async function up(_db: Kysely<any>): Promise<void> {}

// eslint-disable-next-line @typescript-eslint/no-unused-vars
export async function down(_db: Kysely<unknown>): Promise<void> {}
