import { z } from 'zod';
import type { Db, User } from '@cheershare/shared';

type Tx = Pick<Db, 'selectFrom' | 'insertInto' | 'updateTable'>;

export const UserSchema = z.object({
  id: z.uuid(),
  email: z.email(),
  name: z.string().nullable(),
  created_at: z.iso.datetime(),
}).meta({ id: 'User' });

/** The public view of a user, as every endpoint returns it. */
export function presentUser(user: User): z.infer<typeof UserSchema> {
  return { id: user.id, email: user.email, name: user.name, created_at: user.created_at.toISOString() };
}

/** Finds the user of `email`, creating it (with `name`) on first sign-in. */
export async function findOrCreateUser(trx: Tx, email: string, name: string | null): Promise<User> {
  const inserted = await trx.insertInto('users').values({ email, name }).onConflict((oc) => oc.column('email').doNothing())
    .returningAll().executeTakeFirst();
  return inserted ?? trx.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
}

export async function findUser(db: Db, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function renameUser(db: Db, id: string, name: string | null, now: Date): Promise<User | undefined> {
  return db.updateTable('users').set({ name, updated_at: now }).where('id', '=', id).returningAll().executeTakeFirst();
}
