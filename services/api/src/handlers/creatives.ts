import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { authOf } from '../middleware/authenticate.ts';
import { findOwnCreative, listOwnCreatives, softDeleteCreative, type PageCursor } from '../creatives/queries.ts';
import { OwnCreativeSchema, presentOwnCreative } from '../creatives/present.ts';

const notFound = () => new HttpError(404, 'not_found', 'No such creative.');
const Id = z.uuid();

/** The creative id of the path, or 404 for anything that cannot be one. */
export function creativeIdOf(params: Record<string, unknown>): string {
  const parsed = Id.safeParse(params.id);
  if (!parsed.success) throw notFound();
  return parsed.data;
}

const encodeCursor = (c: PageCursor) => Buffer.from(`${c.createdAt.toISOString()}|${c.id}`).toString('base64url');
const Cursor = z.string().max(200).transform((s, ctx) => {
  const [at, id] = Buffer.from(s, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (Number.isNaN(createdAt.getTime()) || !Id.safeParse(id).success) {
    ctx.addIssue({ code: 'custom', message: 'is not a cursor this API returned' });
    return z.NEVER;
  }
  return { createdAt, id: id! };
});
export const ListCreativesQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: Cursor.optional().meta({ description: 'next_cursor of the previous page.' }),
});
export const CreativeListSchema = z.object({ creatives: z.array(OwnCreativeSchema), next_cursor: z.string().nullable() }).meta({ id: 'CreativeList' });
export const CreativeEnvelopeSchema = z.object({ creative: OwnCreativeSchema }).meta({ id: 'CreativeEnvelope' });

/** GET /v1/creatives: the caller's creatives, newest first; `next_cursor` fetches the next page. */
export function handleListCreatives({ db }: Pick<Deps, 'db'>): RequestHandler {
  return async (req, res) => {
    const { limit, cursor } = ListCreativesQuerySchema.parse(req.query);
    const rows = await listOwnCreatives(db, authOf(res).userId, limit + 1, cursor);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    res.json({
      creatives: page.map(presentOwnCreative),
      next_cursor: rows.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
    });
  };
}

/** GET /v1/creatives/:id (owner only; others get 404). */
export function handleGetCreative({ db }: Pick<Deps, 'db'>): RequestHandler {
  return async (req, res) => {
    const creative = await findOwnCreative(db, authOf(res).userId, creativeIdOf(req.params));
    if (!creative) throw notFound();
    res.json({ creative: presentOwnCreative(creative) });
  };
}

/** DELETE /v1/creatives/:id (owner only; others get 404). Files go with the next cleanup. */
export function handleDeleteCreative({ db, clock }: Pick<Deps, 'db' | 'clock'>): RequestHandler {
  return async (req, res) => {
    if (!(await softDeleteCreative(db, authOf(res).userId, creativeIdOf(req.params), clock.now()))) throw notFound();
    res.status(204).end();
  };
}
