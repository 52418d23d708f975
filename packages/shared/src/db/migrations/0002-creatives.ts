import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('creatives')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('owner_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('processing', 'ready', 'rejected')`))
    .addColumn('scheduled_on', 'date', (c) => c.notNull())
    .addColumn('filename', 'text')
    .addColumn('upload_key', 'text')
    .addColumn('upload_size', 'integer', (c) => c.notNull())
    .addColumn('image_key', 'text')
    .addColumn('thumbnail_key', 'text')
    .addColumn('mime', 'text')
    .addColumn('byte_size', 'integer')
    .addColumn('width', 'integer')
    .addColumn('height', 'integer')
    .addColumn('sha256', 'text')
    .addColumn('rejection_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('processed_at', 'timestamptz')
    .addColumn('deleted_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('creatives_owner_created_idx').on('creatives').columns(['owner_id', 'created_at', 'id']).execute();
  await sql`create index creatives_feed_idx on creatives (scheduled_on) where status = 'ready' and deleted_at is null`.execute(db);
  await sql`create index creatives_deleted_idx on creatives (deleted_at) where deleted_at is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('creatives').ifExists().execute();
}
