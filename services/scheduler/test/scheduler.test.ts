import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { creativeJobOptions, creativeKeys, createLogger, createQueueClient, jobIds, loadSchedulerConfig, SCHEDULER_IDS, type SchedulerConfig } from '@cheershare/shared';
import { hostileFiles, makeImage, ownDatabase, testEnv, uniqueEmail } from '@cheershare/shared/testing';
import { createSchedulerApp, type SchedulerApp } from '../src/app.ts';
import { makeCreativesProcessor, makeMaintenanceProcessor } from '../src/processors/index.ts';

describe('scheduler', () => {
  let config: SchedulerConfig;
  let app: SchedulerApp;
  let uploadDir: string;
  let database: Awaited<ReturnType<typeof ownDatabase>>;

  beforeAll(async () => {
    uploadDir = mkdtempSync(join(tmpdir(), 'cheershare-scheduler-'));
    // Cleanup deletes across the whole database: give it one nobody else is using.
    database = await ownDatabase();
    // Recurring jobs far in the future: these tests run them by hand.
    config = loadSchedulerConfig(await testEnv({ DATABASE_URL: database.url, UPLOAD_DIR: uploadDir, DIGEST_CRON: '0 9 1 1 *', CLEANUP_CRON: '0 3 1 1 *', APP_TIMEZONE: 'Europe/Paris', SCHEDULE_REASSERT_MS: '1000' }));
    app = createSchedulerApp(config, { logger: createLogger({ level: 'silent', name: 'scheduler-test' }) });
    await app.start();
  });
  afterAll(async () => {
    await app.stop();
    await database.drop();
  });

  const db = () => app.deps.db;
  const storage = () => app.deps.storage;

  async function user(): Promise<string> {
    return (await db().insertInto('users').values({ email: uniqueEmail() }).returning('id').executeTakeFirstOrThrow()).id;
  }

  /** Stores an upload and its row as the API does, and queues its processing. */
  async function uploaded(bytes: Buffer, opts: { owner?: string; scheduledOn?: string; enqueue?: boolean } = {}) {
    const id = randomUUID();
    await storage().write(creativeKeys.upload(id), bytes);
    await db().insertInto('creatives').values({
      id, owner_id: opts.owner ?? (await user()), status: 'processing', scheduled_on: opts.scheduledOn ?? '2026-06-15',
      upload_key: creativeKeys.upload(id), upload_size: bytes.length, mime: 'image/png',
    }).execute();
    if (opts.enqueue !== false) {
      // As the API does: a producer of its own on the same queue store.
      const queues = createQueueClient(config.queue);
      await queues.producer('creatives', creativeJobOptions()).add('process', { creativeId: id }, { jobId: jobIds.processCreative(id) });
      await queues.close();
    }
    return id;
  }

  /** The row once its processing job has finished (completed or failed), so nothing races the worker. */
  async function settled(id: string) {
    const queues = createQueueClient(config.queue);
    try {
      const creatives = queues.producer('creatives', creativeJobOptions());
      await expect.poll(async () => (await creatives.getJob(jobIds.processCreative(id)))?.getState(), { timeout: 15_000, interval: 50 })
        .toMatch(/^(completed|failed)$/);
    } finally {
      await queues.close();
    }
    return db().selectFrom('creatives').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  const fakeJob = (name: string, data: object) => ({ id: `manual-${randomUUID()}`, name, data, attemptsMade: 0, opts: {} }) as unknown as Job;

  it('processes an upload: normalised image and thumbnail stored, metadata recorded, upload removed', async () => {
    const jpeg = await makeImage('jpeg', { width: 64, height: 48, exifOrientation: 6, withGps: true });
    const id = await uploaded(jpeg);
    const row = await settled(id);
    expect(row).toMatchObject({ status: 'ready', mime: 'image/jpeg', width: 48, height: 64, upload_key: null, rejection_reason: null });
    const image = await storage().readBuffer(row.image_key!);
    expect(row.sha256).toBe(createHash('sha256').update(image).digest('hex'));
    expect(row.byte_size).toBe(image.length);
    expect(await storage().stat(row.thumbnail_key!)).not.toBeNull();
    expect(await storage().stat(creativeKeys.upload(id))).toBeNull();
  });

  it.each([
    ['a PNG header on garbage', () => hostileFiles.pngHeaderOnGarbage()],
    ['a truncated JPEG', () => hostileFiles.truncatedJpeg()],
    ['a huge-dimension image', () => hostileFiles.hugeDimensionPng()],
  ])('rejects %s with a reason, queues the owner an email and removes the upload', async (_label, make) => {
    const id = await uploaded(await make());
    const row = await settled(id);
    expect(row.status).toBe('rejected');
    expect(row.rejection_reason).toMatch(/\w+/);
    expect(row.image_key).toBeNull();
    expect(await storage().stat(creativeKeys.upload(id))).toBeNull();
    expect(await app.deps.emailQueue.getJob(jobIds.creativeRejected(id))).toBeDefined();
  });

  it('does not let libvips parse formats other than the four accepted ones', async () => {
    const sharp = (await import('sharp')).default;
    const tiff = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).tiff().toBuffer();
    const id = await uploaded(tiff);
    const row = await settled(id);
    expect(row.status).toBe('rejected');
    await expect(sharp(tiff).metadata()).rejects.toThrow(/unsupported image format/);
  });

  it('changes nothing when a processed creative is processed again', async () => {
    const id = await uploaded(await makeImage('png'));
    const before = await settled(id);
    const result = await makeCreativesProcessor(app.deps)(fakeJob('process', { creativeId: id }));
    expect(result).toEqual({ status: 'ready' });
    expect(await db().selectFrom('creatives').selectAll().where('id', '=', id).executeTakeFirstOrThrow()).toEqual(before);
  });

  it('marks a creative rejected when its last attempt fails for a transient reason', async () => {
    const id = await uploaded(await makeImage('png'), { enqueue: false });
    // A directory where the upload should be: reading it fails with EISDIR, not "no such file".
    await storage().delete(creativeKeys.upload(id));
    await mkdir(join(uploadDir, creativeKeys.upload(id)));
    const job = (attemptsMade: number) => ({ ...fakeJob('process', { creativeId: id }), attemptsMade, opts: { attempts: 5 } }) as unknown as Job;
    await expect(makeCreativesProcessor(app.deps)(job(0))).rejects.toThrow(/EISDIR/);
    expect((await db().selectFrom('creatives').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('processing');
    expect(await makeCreativesProcessor(app.deps)(job(4))).toEqual({ status: 'rejected' });
    const row = await db().selectFrom('creatives').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'rejected', rejection_reason: expect.stringMatching(/upload it again/) });
  });

  it('skips a creative deleted before it was processed', async () => {
    const id = await uploaded(await makeImage('png'), { enqueue: false });
    await db().updateTable('creatives').set({ deleted_at: new Date() }).where('id', '=', id).execute();
    expect(await makeCreativesProcessor(app.deps)(fakeJob('process', { creativeId: id }))).toEqual({ status: 'gone' });
  });

  it('queues one digest email per owner with a creative live today, and no more when run again', async () => {
    const day = '2031-05-04';
    const [a, b, c] = [await user(), await user(), await user()];
    for (const owner of [a, a, b]) await db().updateTable('creatives').set({ status: 'ready' }).where('id', '=', await uploaded(await makeImage('png'), { owner, scheduledOn: day, enqueue: false })).execute();
    const deleted = await uploaded(await makeImage('png'), { owner: c, scheduledOn: day, enqueue: false });
    await db().updateTable('creatives').set({ status: 'ready', deleted_at: new Date() }).where('id', '=', deleted).execute();
    const run = () => makeMaintenanceProcessor(app.deps)(fakeJob('daily-digest', { day }));
    expect(await run()).toEqual({ day, owners: 2 });
    await run();
    const jobs = await app.deps.emailQueue.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
    const digests = jobs.filter((j) => j.name === 'creative-live' && (j.data as { day: string }).day === day);
    expect(digests.map((j) => j.id).sort()).toEqual([jobIds.creativeLive(a, day), jobIds.creativeLive(b, day)].sort());
  });

  it('digests the day a run was scheduled for, even when it runs after midnight', async () => {
    const owner = await user();
    const id = await uploaded(await makeImage('png'), { owner, scheduledOn: '2026-04-01', enqueue: false });
    await db().updateTable('creatives').set({ status: 'ready' }).where('id', '=', id).execute();
    // Meant for 09:00 on 1 April in Paris (07:00Z), picked up only on 2 April.
    const late = { ...fakeJob('daily-digest', {}), timestamp: Date.parse('2026-04-01T06:59:00Z'), delay: 60_000 } as unknown as Job;
    const result = await makeMaintenanceProcessor(app.deps)(late);
    expect(result).toMatchObject({ day: '2026-04-01' });
  });

  it('sets up its job schedulers once, however many times or replicas start', async () => {
    const replica = createSchedulerApp(config, { logger: createLogger({ level: 'silent', name: 'replica' }) });
    await replica.start();
    await replica.stop();
    const schedulers = await app.maintenanceQueue.queue.getJobSchedulers();
    expect(schedulers.map((s) => s.key).sort()).toEqual([SCHEDULER_IDS.cleanup, SCHEDULER_IDS.dailyDigest].sort());
    expect(schedulers.every((s) => s.tz === 'Europe/Paris')).toBe(true);
    expect(schedulers.find((s) => s.key === SCHEDULER_IDS.dailyDigest)?.pattern).toBe('0 9 1 1 *');
  });

  it('cleans up expired codes, old sessions, deleted creatives, orphaned files and aborted uploads; keeps live data', async () => {
    const now = Date.now();
    const old = new Date(now - 3 * 3600_000);
    const owner = await user();
    const email = uniqueEmail();
    await db().insertInto('otp_challenges').values([
      { id: randomUUID(), email, mailbox: email, code_hash: Buffer.alloc(32), created_at: new Date(now - 26 * 3600_000), expires_at: new Date(now - 25 * 3600_000) },
      // Expired, but still part of today's record of codes sent to this email.
      { id: randomUUID(), email, mailbox: email, code_hash: Buffer.alloc(32), created_at: old, expires_at: new Date(now - 2 * 3600_000) },
      { id: randomUUID(), email, mailbox: email, code_hash: Buffer.alloc(32), created_at: new Date(), expires_at: new Date(now + 600_000) },
    ]).execute();
    const [oldEvent, recentEvent] = [randomUUID(), randomUUID()];
    await db().insertInto('auth_events').values([
      { at: new Date(now - 91 * 86400_000), kind: 'code_failed', challenge_id: oldEvent },
      { at: new Date(now - 89 * 86400_000), kind: 'code_failed', challenge_id: recentEvent },
    ]).execute();
    const revokedLongAgo = randomUUID();
    const live = randomUUID();
    await db().insertInto('sessions').values([
      { id: revokedLongAgo, user_id: owner, expires_at: new Date(now + 86400_000), revoked_at: new Date(now - 30 * 86400_000) },
      { id: live, user_id: owner, expires_at: new Date(now + 86400_000) },
    ]).execute();
    const gone = await uploaded(await makeImage('png'), { owner, enqueue: false });
    await storage().write(creativeKeys.image(gone), Buffer.from('x'));
    await db().updateTable('creatives').set({ deleted_at: new Date() }).where('id', '=', gone).execute();
    const kept = await uploaded(await makeImage('png'), { owner, enqueue: false });
    const orphan = creativeKeys.image(randomUUID());
    await storage().write(orphan, Buffer.from('orphan'));
    await utimes(join(uploadDir, orphan), old, old);
    await utimes(join(uploadDir, creativeKeys.upload(kept)), old, old);
    await mkdir(join(uploadDir, '.incomplete'), { recursive: true });
    const partial = join(uploadDir, '.incomplete', randomUUID());
    await writeFile(partial, 'half an upload');
    await utimes(partial, old, old);

    const result = await makeMaintenanceProcessor(app.deps)(fakeJob('cleanup', {}));
    // Earlier tests in this file deleted creatives too; the checks below name this test's own.
    expect(result).toMatchObject({ orphanFiles: 1, incompleteUploads: 1 });
    expect((result as { deletedCreatives: number }).deletedCreatives).toBeGreaterThanOrEqual(1);
    expect(await db().selectFrom('otp_challenges').select('id').where('email', '=', email).execute()).toHaveLength(2);
    expect((await db().selectFrom('sessions').select('id').where('user_id', '=', owner).execute()).map((s) => s.id)).toEqual([live]);
    const events = await db().selectFrom('auth_events').select('challenge_id').where('challenge_id', 'in', [oldEvent, recentEvent]).execute();
    expect(events.map((e) => e.challenge_id)).toEqual([recentEvent]);
    expect(await db().selectFrom('creatives').select('id').where('id', '=', gone).executeTakeFirst()).toBeUndefined();
    expect(await storage().stat(creativeKeys.upload(gone))).toBeNull();
    expect(await storage().stat(creativeKeys.image(gone))).toBeNull();
    expect(await storage().stat(orphan)).toBeNull();
    expect(await storage().stat(creativeKeys.upload(kept))).not.toBeNull();
  });

  it('reports schedulers that disagree on their settings; the most recently started wins and nobody flaps', async () => {
    const lines: { level: number; msg: string }[] = [];
    const capture = { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) };
    const earlier = createSchedulerApp(config, { logger: createLogger({ level: 'warn', name: 'earlier', destination: capture }) });
    await earlier.start();
    const laterConfig = { ...config, schedules: { ...config.schedules, cleanup: '0 4 1 1 *' } };
    const later = createSchedulerApp(laterConfig, { logger: createLogger({ level: 'warn', name: 'later', destination: capture }) });
    try {
      await later.start();
      const stored = async () => (await app.maintenanceQueue.scheduler(SCHEDULER_IDS.cleanup))?.pattern;
      expect(await stored()).toBe('0 4 1 1 *');
      // The earlier schedulers (this file's app and `earlier`) re-assert every second: each cycle
      // reports the disagreement and leaves the later scheduler's settings in place.
      const reports = () => lines.filter((l) => l.level === 50 && l.msg.startsWith('schedulers disagree')).length;
      await expect.poll(reports, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(4);
      expect(await stored()).toBe('0 4 1 1 *');
      expect(await earlier.deps.metrics.registry.getSingleMetricAsString('cheershare_schedule_disagreements')).toMatch(/cheershare_schedule_disagreements\{[^}]*\} 1$/m);
    } finally {
      await later.stop();
      await earlier.stop();
    }
    // The settings this file's other tests expect, written back by a scheduler starting again.
    const restarted = createSchedulerApp(config, { logger: createLogger({ level: 'silent', name: 'restarted' }) });
    await restarted.start();
    await restarted.stop();
    expect((await app.maintenanceQueue.scheduler(SCHEDULER_IDS.cleanup))?.pattern).toBe('0 3 1 1 *');
  });

  it('writes its recurring jobs again on its own after the queue store lost them', async () => {
    for (const id of Object.values(SCHEDULER_IDS)) await app.maintenanceQueue.queue.removeJobScheduler(id);
    expect(await app.maintenanceQueue.schedulerIds()).toEqual([]);
    // SCHEDULE_REASSERT_MS is 1 s here: back without a restart.
    await expect.poll(async () => (await app.maintenanceQueue.schedulerIds()).sort(), { timeout: 10_000, interval: 100 })
      .toEqual([SCHEDULER_IDS.cleanup, SCHEDULER_IDS.dailyDigest].sort());
  });

  it('cleanup rejects a creative stuck in processing with no live job, tells its owner, and leaves one whose job is still due', async () => {
    const old = new Date(Date.now() - (config.processingMaxAgeMinutes + 5) * 60_000);
    const stuck = await uploaded(await makeImage('png', { width: 8, height: 8 }), { enqueue: false });
    const due = await uploaded(await makeImage('png', { width: 8, height: 8 }), { enqueue: false });
    const recent = await uploaded(await makeImage('png', { width: 8, height: 8 }), { enqueue: false });
    await sql`update creatives set created_at = ${old} where id in (${stuck}, ${due})`.execute(db());
    // A job still waiting for its time (a retry's backoff, say) will decide its creative itself.
    const queues = createQueueClient(config.queue);
    const creatives = queues.producer('creatives', creativeJobOptions());
    await creatives.queue.add('process', { creativeId: due }, { jobId: jobIds.processCreative(due), delay: 3_600_000 });
    try {
      const result = await makeMaintenanceProcessor(app.deps)(fakeJob('cleanup', {}));
      expect(result).toMatchObject({ stuckCreatives: 1 });
      const rows = await db().selectFrom('creatives').select(['id', 'status', 'rejection_reason', 'upload_key']).where('id', 'in', [stuck, due, recent]).execute();
      const byId = new Map(rows.map((r) => [r.id, r]));
      expect(byId.get(stuck)).toMatchObject({ status: 'rejected', rejection_reason: 'We could not process this image; please upload it again.', upload_key: null });
      expect(byId.get(due)?.status).toBe('processing');
      expect(byId.get(recent)?.status).toBe('processing');
      expect(await storage().stat(creativeKeys.upload(stuck))).toBeNull();
      expect(await app.deps.emailQueue.getJob(jobIds.creativeRejected(stuck))).toBeDefined();
    } finally {
      await (await creatives.getJob(jobIds.processCreative(due)))?.remove();
      await queues.close();
    }
  });
});
