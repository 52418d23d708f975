import { z } from 'zod';
import type { Db, User } from '@cheershare/shared';

export const UserSchema = z.object({
  id: z.uuid(),
  email: z.email(),
  name: z.string().nullable(),
  created_at: z.iso.datetime(),
}).meta({ id: 'User' });

/** The columns a user's public view needs. */
export type UserView = Pick<User, 'id' | 'email' | 'name' | 'created_at'>;

/** The public view of a user, as every endpoint returns it. */
export function presentUser(user: UserView): z.infer<typeof UserSchema> {
  return { id: user.id, email: user.email, name: user.name, created_at: user.created_at.toISOString() };
}

export async function findUser(db: Db, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function renameUser(db: Db, id: string, name: string | null, now: Date): Promise<User | undefined> {
  return db.updateTable('users').set({ name, updated_at: now }).where('id', '=', id).returningAll().executeTakeFirst();
}
