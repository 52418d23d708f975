import type { Creative } from '@cheershare/shared';

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
