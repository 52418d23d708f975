import { z } from 'zod';
import type { Creative } from '@cheershare/shared';

const Mime = z.enum(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
const Day = z.iso.date().meta({ description: 'A calendar date, YYYY-MM-DD.' });
const Urls = {
  image_url: z.string().nullable().meta({ description: 'Set once the creative is ready.' }),
  thumbnail_url: z.string().nullable(),
};

export const OwnCreativeSchema = z.object({
  id: z.uuid(),
  status: z.enum(['processing', 'ready', 'rejected']),
  scheduled_on: Day,
  filename: z.string().nullable(),
  mime: Mime.nullable(),
  width: z.int().nullable(),
  height: z.int().nullable(),
  byte_size: z.int().nullable(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  rejection_reason: z.string().nullable(),
  created_at: z.iso.datetime(),
  processed_at: z.iso.datetime().nullable(),
  ...Urls,
}).meta({ id: 'OwnCreative' });

export const PublicCreativeSchema = z.object({
  id: z.uuid(),
  scheduled_on: Day,
  mime: Mime.nullable(),
  width: z.int().nullable(),
  height: z.int().nullable(),
  ...Urls,
}).meta({ id: 'PublicCreative' });

function urls(c: Creative) {
  const ready = c.status === 'ready';
  return {
    image_url: ready ? `/v1/creatives/${c.id}/image` : null,
    thumbnail_url: ready ? `/v1/creatives/${c.id}/thumbnail` : null,
  };
}

/** What the owner sees of a creative. Storage keys never leave the service. */
export function presentOwnCreative(c: Creative) {
  return {
    id: c.id,
    status: c.status,
    scheduled_on: c.scheduled_on,
    filename: c.filename,
    mime: c.mime,
    width: c.width,
    height: c.height,
    byte_size: c.byte_size,
    sha256: c.sha256,
    rejection_reason: c.rejection_reason,
    created_at: c.created_at.toISOString(),
    processed_at: c.processed_at?.toISOString() ?? null,
    ...urls(c),
  };
}

/** What everyone signed in sees in the feed: no owner email, no filename, no storage paths. */
export function presentPublicCreative(c: Creative) {
  return {
    id: c.id,
    scheduled_on: c.scheduled_on,
    mime: c.mime,
    width: c.width,
    height: c.height,
    ...urls(c),
  };
}
