import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RequestHandler } from 'express';
import type { Deps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { authOf } from '../middleware/authenticate.ts';
import { findViewableCreative } from '../creatives/queries.ts';
import { creativeIdOf } from './creatives.ts';

/**
 * RFC 9110 If-None-Match, evaluated by the origin whatever the request's Cache-Control says
 * (Express's req.fresh gives up on `no-cache`, which fetch() sends with every conditional request).
 */
function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').map((t) => t.trim().replace(/^W\//, '')).some((t) => t === '*' || t === etag);
}

const EXTENSIONS: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/gif': 'gif', 'image/webp': 'webp' };

/**
 * GET /v1/creatives/:id/image and /thumbnail: the processed bytes, 404 until ready. Content never
 * changes for an id, so the sha256 is a strong ETag.
 */
export function handleCreativeFile({ db, storage, clock }: Pick<Deps, 'db' | 'storage' | 'clock'>, variant: 'image' | 'thumbnail'): RequestHandler {
  return async (req, res) => {
    const creative = await findViewableCreative(db, authOf(res).userId, creativeIdOf(req.params), clock.now());
    const key = variant === 'image' ? creative?.image_key : creative?.thumbnail_key;
    if (!creative?.sha256 || !key) throw new HttpError(404, 'not_found', 'No such image (it may still be processing).');
    const mime = variant === 'image' ? (creative.mime ?? 'application/octet-stream') : 'image/webp';
    const etag = `"${creative.sha256}${variant === 'thumbnail' ? '-thumb' : ''}"`;
    const validators = { 'ETag': etag, 'Cache-Control': 'private, max-age=3600' };
    if (matchesIfNoneMatch(req.get('if-none-match'), etag)) {
      res.set(validators).status(304).end();
      return;
    }
    // The store answers (or fails: 404, 503 in the one JSON shape) before any image header is set
    // or byte sent; past that point a failure can only cut the response.
    const stat = await storage.stat(key);
    if (!stat) throw new HttpError(404, 'not_found', 'No such image.');
    const body = req.method === 'HEAD' ? undefined : storage.read(key);
    if (body) await firstBytes(body);
    res.set({
      ...validators,
      'Content-Type': mime,
      'Content-Length': String(stat.size),
      'Content-Disposition': `inline; filename="${creative.id}${variant === 'thumbnail' ? '-thumb' : ''}.${EXTENSIONS[mime] ?? 'bin'}"`,
      'Content-Security-Policy': "default-src 'none'",
    });
    if (!body) {
      res.end();
      return;
    }
    await pipeline(body, res);
  };
}

/** Resolves once the stream has data (or has ended); a file removed meanwhile is a 404. */
async function firstBytes(body: Readable): Promise<void> {
  try {
    await once(body, 'readable');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new HttpError(404, 'not_found', 'No such image.');
    throw err;
  }
}
