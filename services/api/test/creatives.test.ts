import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, creativeKeys } from '@cheershare/shared';
import { hostileFiles, makeImage, uniqueEmail } from '@cheershare/shared/testing';
import { manualClock, startApi, type TestApi } from './harness.ts';

const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

describe('creatives API', () => {
  const clock = manualClock(new Date('2026-06-15T12:00:00Z'));
  let api: TestApi;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };
  let png: Buffer;
  const today = '2026-06-15';

  beforeAll(async () => {
    api = await startApi({ clock, env: { UPLOAD_MAX_BYTES: String(MAX_UPLOAD_BYTES) } });
    const a = await api.signIn(uniqueEmail('alice'));
    const b = await api.signIn(uniqueEmail('bob'));
    alice = { token: a.access_token, id: a.user.id };
    bob = { token: b.access_token, id: b.user.id };
    png = await makeImage('png');
  });
  afterAll(() => api.close());

  function form(parts: { file?: Buffer | Buffer[]; filename?: string; type?: string; scheduled_on?: string; extra?: Record<string, string> }) {
    const fd = new FormData();
    if (parts.scheduled_on !== undefined) fd.append('scheduled_on', parts.scheduled_on);
    for (const f of [parts.file ?? []].flat()) fd.append('file', new Blob([new Uint8Array(f)], { type: parts.type ?? 'application/octet-stream' }), parts.filename ?? 'image.bin');
    for (const [k, v] of Object.entries(parts.extra ?? {})) fd.append(k, v);
    return fd;
  }
  const upload = (token: string, parts: Parameters<typeof form>[0]) => api.request('POST', '/v1/creatives', { token, body: form(parts) });

  async function storedFiles(): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of api.app.deps.storage.list('')) keys.push(o.key);
    return keys.sort();
  }
  // Alice's rows only: other files share the database and add creatives of their own meanwhile.
  const rowCount = async () => Number((await api.app.deps.db.selectFrom('creatives').select((eb) => eb.fn.countAll().as('n')).where('owner_id', '=', alice.id).executeTakeFirstOrThrow()).n);
  /** Sizes of the partial writes under way (storage writes to `.incomplete`, then renames). */
  const incomplete = async () => {
    const dir = join((api.app.deps.config.storage as { dir: string }).dir, '.incomplete');
    const names = await readdir(dir).catch(() => []);
    return Promise.all(names.map(async (n) => (await stat(join(dir, n)).catch(() => null))?.size ?? 0));
  };

  /** Stands in for the scheduler: stores processed files and marks the creative ready. */
  async function markReady(id: string) {
    const { storage, db } = api.app.deps;
    await storage.write(creativeKeys.image(id), png);
    await storage.write(creativeKeys.thumbnail(id), png);
    await db.updateTable('creatives').set({
      status: 'ready', image_key: creativeKeys.image(id), thumbnail_key: creativeKeys.thumbnail(id), mime: 'image/png',
      width: 64, height: 48, byte_size: png.length, sha256: 'a'.repeat(64), processed_at: clock.now(),
    }).where('id', '=', id).execute();
  }

  it('accepts an image judged by content, streams it to a generated key, and queues processing', async () => {
    const jpeg = await makeImage('jpeg');
    const res = await upload(alice.token, { file: jpeg, filename: 'holiday.png', type: 'text/plain', scheduled_on: today });
    expect(res.status).toBe(202);
    expect(res.body.creative).toMatchObject({ status: 'processing', scheduled_on: today, mime: 'image/jpeg', filename: 'holiday.png', image_url: null });
    const id = res.body.creative.id as string;
    expect(await storedFiles()).toContain(creativeKeys.upload(id));
    expect(await api.app.deps.storage.readBuffer(creativeKeys.upload(id))).toEqual(jpeg);
    const job = await api.app.deps.creativesQueue.getJob(`creative-${id}`);
    expect(job?.data).toEqual({ creativeId: id });
  });

  it.each(['png', 'gif', 'webp'] as const)('accepts %s', async (format) => {
    const res = await upload(alice.token, { file: await makeImage(format), scheduled_on: today });
    expect(res.status).toBe(202);
    expect(res.body.creative.mime).toBe(`image/${format}`);
  });

  it('never uses the client filename as a path', async () => {
    const res = await upload(alice.token, { file: png, filename: '../../etc/passwd', scheduled_on: today });
    expect(res.status).toBe(202);
    expect(res.body.creative.filename).toBe('passwd');
    expect((await storedFiles()).every((k) => /^uploads\/[0-9a-f-]{36}$/.test(k) || !k.includes('passwd'))).toBe(true);
  });

  it('accepts today in APP_TIMEZONE even when UTC is still on the previous day', async () => {
    const kiribati = await startApi({ clock: manualClock(new Date('2026-06-15T12:00:00Z')), env: { APP_TIMEZONE: 'Pacific/Kiritimati' } });
    try {
      const { access_token: token } = await kiribati.signIn(uniqueEmail());
      const body = (scheduled_on: string) => ({ token, body: form({ file: png, scheduled_on }) });
      expect((await kiribati.request('POST', '/v1/creatives', body('2026-06-16'))).status).toBe(202);
      expect((await kiribati.request('POST', '/v1/creatives', body('2026-06-15'))).status).toBe(400);
    } finally {
      await kiribati.close();
    }
  });

  describe('rejects bad uploads with a clear 4xx and leaves no file or row behind', () => {
    const cases: [string, () => Promise<Parameters<typeof form>[0]> | Parameters<typeof form>[0], number, string][] = [
      ['an SVG with a script', () => ({ file: hostileFiles.svgWithScript(), filename: 'x.png', type: 'image/png', scheduled_on: today }), 415, 'unsupported_image_type'],
      ['a zip renamed .png', () => ({ file: hostileFiles.zipRenamedPng(), filename: 'x.png', type: 'image/png', scheduled_on: today }), 415, 'unsupported_image_type'],
      ['an 11 MB file', () => ({ file: hostileFiles.oversized(11 * 1024 * 1024), scheduled_on: today }), 413, 'file_too_large'],
      ['two files', () => ({ file: [png, png], scheduled_on: today }), 400, 'too_many_files'],
      ['no file', () => ({ scheduled_on: today }), 400, 'file_required'],
      ['an empty file', () => ({ file: Buffer.alloc(0), scheduled_on: today }), 415, 'unsupported_image_type'],
      ['a past date', () => ({ file: png, scheduled_on: addDays(today, -1) }), 400, 'invalid_scheduled_on'],
      ['a date past the horizon', () => ({ file: png, scheduled_on: addDays(today, 366) }), 400, 'invalid_scheduled_on'],
      ['a bad date', () => ({ file: png, scheduled_on: '2026-02-30' }), 400, 'invalid_request'],
      ['a malformed date', () => ({ file: png, scheduled_on: 'tomorrow' }), 400, 'invalid_request'],
      ['a missing date', () => ({ file: png }), 400, 'invalid_request'],
      ['too many fields', () => ({ file: png, scheduled_on: today, extra: { a: '1', b: '2', c: '3', d: '4' } }), 400, 'too_many_fields'],
      ['an overlong field', () => ({ file: png, scheduled_on: today, extra: { note: 'x'.repeat(5000) } }), 413, 'field_too_large'],
    ];
    it.each(cases)('%s', async (_label, parts, status, code) => {
      const [filesBefore, rowsBefore] = [await storedFiles(), await rowCount()];
      const res = await upload(alice.token, await parts());
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(await storedFiles()).toEqual(filesBefore);
      expect(await rowCount()).toBe(rowsBefore);
    });

    // Large enough that the body is still arriving when the sniff refuses it: these once got a 500.
    it.each([
      ['256 KB', 256 * 1024],
      ['1 MB', 1024 * 1024],
      ['4 MB', 4 * 1024 * 1024],
      ['just under the upload limit', MAX_UPLOAD_BYTES - 1024],
    ])('%s of non-image bytes named .png: 415, not a 500', async (_label, size) => {
      const [filesBefore, rowsBefore] = [await storedFiles(), await rowCount()];
      const res = await upload(alice.token, { file: Buffer.alloc(size, 0x41), filename: 'x.png', type: 'image/png', scheduled_on: today });
      expect(res.status).toBe(415);
      expect(res.body).toEqual({ error: { code: 'unsupported_image_type', message: 'Only JPEG, PNG, GIF and WebP images are accepted.' } });
      expect(await rowCount()).toBe(rowsBefore);
      expect(await storedFiles()).toEqual(filesBefore);
      expect(await incomplete()).toEqual([]);
    });

    it('a body that is not multipart', async () => {
      const res = await api.request('POST', '/v1/creatives', { token: alice.token, json: { scheduled_on: today } });
      expect(res.status).toBe(415);
    });

    it('a malformed multipart body', async () => {
      const files = await storedFiles();
      const res = await api.request('POST', '/v1/creatives', {
        token: alice.token,
        headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
        body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG\r\n\x1a\n unterminated',
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_multipart');
      expect(await storedFiles()).toEqual(files);
    });

    it('an upload the client abandons half-way', async () => {
      const { request } = await import('node:http');
      const [filesBefore, rowsBefore] = [await storedFiles(), await rowCount()];
      const boundary = 'cheershare-abort';
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="scheduled_on"\r\n\r\n${today}\r\n`
        + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n`;
      const req = request(`${api.base}/v1/creatives`, {
        method: 'POST',
        headers: { 'authorization': `Bearer ${alice.token}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(5_000_000) },
      });
      req.on('error', () => {});
      req.write(head);
      req.write(png);
      req.write(Buffer.alloc(256 * 1024, 7));
      // Abandoned half-way means the server has begun storing it: some of its bytes are on disk.
      await expect.poll(async () => (await incomplete()).some((size) => size > 0), { timeout: 5_000 }).toBe(true);
      req.destroy();
      // The partial file goes once the aborted stream has unwound, a moment after the socket closes.
      await expect.poll(async () => [...await storedFiles(), String(await rowCount()), ...await incomplete()], { timeout: 5_000 })
        .toEqual([...filesBefore, String(rowsBefore)]);
    });

    it('an upload without a token', async () => {
      expect((await api.request('POST', '/v1/creatives', { body: form({ file: png, scheduled_on: today }) })).status).toBe(401);
    });
  });

  it('lists my creatives newest first with cursor pagination, never anyone else’s', async () => {
    const carol = await api.signIn(uniqueEmail('carol'));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await upload(carol.access_token, { file: png, scheduled_on: today })).body.creative.id);
      clock.advance(1);
    }
    await upload(bob.token, { file: png, scheduled_on: today });
    const first = await api.request('GET', '/v1/creatives?limit=2', { token: carol.access_token });
    expect(first.body.creatives.map((c: { id: string }) => c.id)).toEqual([ids[2], ids[1]]);
    const second = await api.request('GET', `/v1/creatives?limit=2&cursor=${first.body.next_cursor}`, { token: carol.access_token });
    expect(second.body.creatives.map((c: { id: string }) => c.id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
    expect((await api.request('GET', '/v1/creatives?cursor=garbage', { token: carol.access_token })).status).toBe(400);
    expect((await api.request('GET', '/v1/creatives?limit=1000', { token: carol.access_token })).status).toBe(400);
  });

  it('shows, serves and deletes only for the owner; others get 404', async () => {
    const id = (await upload(alice.token, { file: png, scheduled_on: addDays(today, 30) })).body.creative.id as string;
    expect((await api.request('GET', `/v1/creatives/${id}`, { token: alice.token })).status).toBe(200);
    expect((await api.request('GET', `/v1/creatives/${id}`, { token: bob.token })).status).toBe(404);
    expect((await api.request('GET', `/v1/creatives/${id}/image`, { token: alice.token })).status).toBe(404);
    await markReady(id);
    expect((await api.request('GET', `/v1/creatives/${id}/image`, { token: alice.token })).status).toBe(200);
    // Not live for a month: other users cannot fetch it yet.
    expect((await api.request('GET', `/v1/creatives/${id}/image`, { token: bob.token })).status).toBe(404);
    expect((await api.request('DELETE', `/v1/creatives/${id}`, { token: bob.token })).status).toBe(404);
    expect((await api.request('DELETE', `/v1/creatives/${id}`, { token: alice.token })).status).toBe(204);
    expect((await api.request('GET', `/v1/creatives/${id}`, { token: alice.token })).status).toBe(404);
    expect((await api.request('GET', `/v1/creatives/${id}/image`, { token: alice.token })).status).toBe(404);
    expect((await api.request('DELETE', `/v1/creatives/${id}`, { token: alice.token })).status).toBe(404);
    expect((await api.request('GET', '/v1/creatives/not-a-uuid', { token: alice.token })).status).toBe(404);
  });

  it('serves the image and thumbnail with Content-Type, ETag and Cache-Control, and 304 when unchanged', async () => {
    const id = (await upload(alice.token, { file: png, scheduled_on: today })).body.creative.id as string;
    await markReady(id);
    const image = await fetch(`${api.base}/v1/creatives/${id}/image`, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(image.headers.get('cache-control')).toBe('private, max-age=3600');
    const etag = image.headers.get('etag');
    expect(etag).toBe(`"${'a'.repeat(64)}"`);
    expect(Buffer.from(await image.arrayBuffer())).toEqual(png);
    const again = await fetch(`${api.base}/v1/creatives/${id}/image`, { headers: { authorization: `Bearer ${bob.token}`, 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    const thumb = await fetch(`${api.base}/v1/creatives/${id}/thumbnail`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    expect(thumb.headers.get('etag')).not.toBe(etag);
    expect((await fetch(`${api.base}/v1/creatives/${id}/image`)).status).toBe(401);
  });

  describe('GET /v1/creatives/scheduled', () => {
    const feedClock = manualClock(new Date('2026-03-07T12:00:00Z'));
    let feedApi: TestApi;
    const made: Record<string, string> = {};
    beforeAll(async () => {
      feedApi = await startApi({ clock: feedClock, env: { APP_TIMEZONE: 'America/Los_Angeles' } });
      const { access_token: token } = await feedApi.signIn(uniqueEmail('feed'));
      for (const day of ['2026-03-07', '2026-03-08', '2026-03-09', '2026-03-10']) {
        const res = await feedApi.request('POST', '/v1/creatives', { token, body: form({ file: png, scheduled_on: day }) });
        made[day] = res.body.creative.id;
        const { db, storage } = feedApi.app.deps;
        await storage.write(creativeKeys.image(made[day]!), png);
        await db.updateTable('creatives').set({ status: 'ready', image_key: creativeKeys.image(made[day]!), thumbnail_key: creativeKeys.image(made[day]!), sha256: 'b'.repeat(64), width: 64, height: 48 })
          .where('id', '=', made[day]!).execute();
      }
      // One still processing: never in the feed.
      await feedApi.request('POST', '/v1/creatives', { token, body: form({ file: png, scheduled_on: '2026-03-08' }) });
    });
    afterAll(() => feedApi.close());

    const feed = async (at: string, tz?: string) => {
      feedClock.set(new Date(at));
      const { access_token } = await feedApi.signIn(uniqueEmail());
      return feedApi.request('GET', `/v1/creatives/scheduled${tz ? `?tz=${encodeURIComponent(tz)}` : ''}`, { token: access_token });
    };
    const ids = (list: { id: string }[]) => list.map((c) => c.id);

    it('uses APP_TIMEZONE by default and shows only public fields of ready creatives', async () => {
      const res = await feed('2026-03-07T20:00:00Z');
      expect(res.body.dates).toEqual({ today: '2026-03-07', tomorrow: '2026-03-08' });
      expect(ids(res.body.today)).toEqual([made['2026-03-07']]);
      expect(ids(res.body.tomorrow)).toEqual([made['2026-03-08']]);
      expect(Object.keys(res.body.today[0]).sort()).toEqual(['height', 'id', 'image_url', 'mime', 'scheduled_on', 'thumbnail_url', 'width']);
      expect(JSON.stringify(res.body)).not.toMatch(/@|uploads\/|images\//);
    });

    it('moves to the next day at local midnight, not UTC midnight', async () => {
      // 07:59Z on 8 March is still 23:59 on 7 March in Los Angeles (PST, UTC-8) ...
      expect((await feed('2026-03-08T07:59:00Z')).body.dates.today).toBe('2026-03-07');
      // ... and 08:00Z is midnight, 8 March.
      expect((await feed('2026-03-08T08:00:00Z')).body.dates.today).toBe('2026-03-08');
    });

    it('is correct across the DST change (8 March 2026 in Los Angeles is 23 hours long)', async () => {
      // After the spring-forward, local midnight is 07:00Z: 9 March starts at 2026-03-09T07:00Z.
      expect((await feed('2026-03-09T06:59:00Z')).body.dates).toEqual({ today: '2026-03-08', tomorrow: '2026-03-09' });
      const after = await feed('2026-03-09T07:00:00Z');
      expect(after.body.dates).toEqual({ today: '2026-03-09', tomorrow: '2026-03-10' });
      expect(ids(after.body.today)).toEqual([made['2026-03-09']]);
    });

    it('answers for the zone asked for', async () => {
      const res = await feed('2026-03-08T02:00:00Z', 'Europe/Paris');
      expect(res.body.timezone).toBe('Europe/Paris');
      expect(res.body.dates.today).toBe('2026-03-08');
      expect(ids(res.body.today)).toEqual([made['2026-03-08']]);
      expect(ids(res.body.tomorrow)).toEqual([made['2026-03-09']]);
    });

    it('answers with the canonical spelling of the zone', async () => {
      expect((await feed('2026-03-08T02:00:00Z', 'europe/paris')).body.timezone).toBe('Europe/Paris');
    });

    it.each(['Mars/Olympus', 'not a zone', '../../etc/passwd', 'x'.repeat(100)])('rejects the invalid zone %s with 400', async (tz) => {
      const res = await feed('2026-03-08T02:00:00Z', tz);
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].path).toBe('tz');
    });
  });
});
