import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { authOf } from '../middleware/authenticate.ts';
import { presentUser, renameUser, UserSchema } from '../users.ts';
import { NameSchema } from './schemas.ts';

const gone = () => new HttpError(404, 'not_found', 'This account no longer exists.');

/** GET /v1/me */
export function handleGetMe(): RequestHandler {
  return (_req, res) => {
    res.json({ user: presentUser(authOf(res).user) });
  };
}

export const UpdateMeSchema = z.object({ name: NameSchema.nullable() }).meta({ id: 'UpdateMe' });
export const MeSchema = z.object({ user: UserSchema }).meta({ id: 'Me' });

/** PATCH /v1/me `{ "name" }`: `null` clears the name. */
export function handleUpdateMe({ db, clock }: Pick<Deps, 'db' | 'clock'>): RequestHandler {
  return async (req, res) => {
    const { name } = UpdateMeSchema.parse(req.body);
    const user = await renameUser(db, authOf(res).userId, name, clock.now());
    if (!user) throw gone();
    res.json({ user: presentUser(user) });
  };
}
