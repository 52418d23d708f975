import { addDays, dateIn, type Creative, type Db } from '@cheershare/shared';

export async function insertCreative(
  db: Db,
  row: { id: string; ownerId: string; scheduledOn: string; filename: string | null; uploadKey: string; uploadSize: number; mime: string; now: Date },
): Promise<Creative> {
  return db.insertInto('creatives').values({
    id: row.id, owner_id: row.ownerId, status: 'processing', scheduled_on: row.scheduledOn, filename: row.filename,
    upload_key: row.uploadKey, upload_size: row.uploadSize, mime: row.mime, created_at: row.now,
  }).returningAll().executeTakeFirstOrThrow();
}

export async function removeCreativeRow(db: Db, id: string): Promise<void> {
  await db.deleteFrom('creatives').where('id', '=', id).execute();
}

/** A creative of `ownerId` that is not deleted. */
export async function findOwnCreative(db: Db, ownerId: string, id: string): Promise<Creative | undefined> {
  return db.selectFrom('creatives').selectAll().where('id', '=', id).where('owner_id', '=', ownerId)
    .where('deleted_at', 'is', null).executeTakeFirst();
}

/**
 * A ready creative the caller may look at: their own, or anyone's once it is live or about to be
 * (scheduled no later than two days after today in UTC, which covers "tomorrow" in every zone).
 */
export async function findViewableCreative(db: Db, viewerId: string, id: string, now: Date): Promise<Creative | undefined> {
  const latestPublic = addDays(dateIn('UTC', now), 2);
  return db.selectFrom('creatives').selectAll().where('id', '=', id).where('status', '=', 'ready').where('deleted_at', 'is', null)
    .where((eb) => eb.or([eb('owner_id', '=', viewerId), eb('scheduled_on', '<=', latestPublic)]))
    .executeTakeFirst();
}

export interface PageCursor {
  createdAt: Date;
  id: string;
}

/** The owner's creatives, newest first, `limit` after `cursor` (keyset pagination). */
export async function listOwnCreatives(db: Db, ownerId: string, limit: number, cursor?: PageCursor): Promise<Creative[]> {
  let query = db.selectFrom('creatives').selectAll().where('owner_id', '=', ownerId).where('deleted_at', 'is', null);
  if (cursor) {
    query = query.where((eb) => eb.or([
      eb('created_at', '<', cursor.createdAt),
      eb.and([eb('created_at', '=', cursor.createdAt), eb('id', '<', cursor.id)]),
    ]));
  }
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** Marks a creative deleted; the scheduler's cleanup removes its files and then the row. */
export async function softDeleteCreative(db: Db, ownerId: string, id: string, now: Date): Promise<boolean> {
  const result = await db.updateTable('creatives').set({ deleted_at: now })
    .where('id', '=', id).where('owner_id', '=', ownerId).where('deleted_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Every ready creative scheduled on one of `days`, in schedule then upload order. */
export async function listScheduled(db: Db, days: string[]): Promise<Creative[]> {
  return db.selectFrom('creatives').selectAll().where('status', '=', 'ready').where('deleted_at', 'is', null)
    .where('scheduled_on', 'in', days).orderBy('scheduled_on').orderBy('created_at').orderBy('id').limit(1000).execute();
}
