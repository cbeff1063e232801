/**
 * The object-storage schema, created by explicit migrations with typeorm's Table API so the
 * same migration runs on PostgreSQL and SQLite. Names sort by their UTF-8 bytes (Swift and
 * S3 listing order): SQLite's BINARY collation does that, PostgreSQL needs COLLATE "C".
 * The primary keys double as the ordered indexes listings walk with a marker.
 */
import { Table, TableIndex, type MigrationInterface, type QueryRunner } from '@strato/db';

type ColumnSpec = ConstructorParameters<typeof Table>[0] extends infer O
  ? O extends { columns?: (infer C)[] }
    ? C
    : never
  : never;

function columns(isPostgres: boolean) {
  const name = (columnName: string, primary = false): ColumnSpec => ({
    name: columnName,
    type: 'text',
    isPrimary: primary,
    ...(isPostgres ? { collation: 'C' } : {}),
  });
  const bigint = (columnName: string, nullable = false): ColumnSpec => ({
    name: columnName,
    type: 'bigint',
    isNullable: nullable,
    ...(nullable ? {} : { default: 0 }),
  });
  const text = (columnName: string, nullable = false, fallback?: string): ColumnSpec => ({
    name: columnName,
    type: 'text',
    isNullable: nullable,
    ...(fallback !== undefined ? { default: `'${fallback}'` } : {}),
  });
  return { name, bigint, text };
}

export class ObjectStorageInit1732600000000 implements MigrationInterface {
  name = 'ObjectStorageInit1732600000000';

  async up(q: QueryRunner): Promise<void> {
    const { name, bigint, text } = columns(q.connection.driver.options.type === 'postgres');
    await q.createTable(
      new Table({
        name: 'os_accounts',
        columns: [
          name('account', true),
          bigint('container_count'),
          bigint('object_count'),
          bigint('bytes_used'),
          bigint('created_at'),
          text('meta', false, '{}'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'os_containers',
        columns: [
          name('account', true),
          name('name', true),
          bigint('object_count'),
          bigint('bytes_used'),
          bigint('created_at'),
          bigint('modified_at'),
          text('meta', false, '{}'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'os_objects',
        columns: [
          name('account', true),
          name('container', true),
          name('name', true),
          bigint('size'),
          text('etag'),
          text('content_type'),
          bigint('last_modified'),
          text('meta', false, '{}'),
          text('kind', false, 'plain'),
          text('data_id', true),
          text('manifest', true),
          text('upload_id', true),
        ],
      }),
    );
    await q.createIndex(
      'os_objects',
      new TableIndex({ name: 'os_objects_data_id', columnNames: ['data_id'] }),
    );
    await q.createTable(
      new Table({
        name: 'os_uploads',
        columns: [
          { name: 'upload_id', type: 'varchar', length: '64', isPrimary: true },
          name('account'),
          name('container'),
          name('name'),
          text('content_type'),
          text('meta', false, '{}'),
          bigint('created_at'),
        ],
      }),
    );
    await q.createIndex(
      'os_uploads',
      new TableIndex({
        name: 'os_uploads_by_key',
        columnNames: ['account', 'container', 'name', 'upload_id'],
      }),
    );
    await q.createTable(
      new Table({
        name: 'os_upload_parts',
        columns: [
          { name: 'upload_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'part_number', type: 'integer', isPrimary: true },
          bigint('size'),
          text('etag'),
          text('data_id'),
          bigint('last_modified'),
          { name: 'completed', type: 'integer', default: 0 },
        ],
      }),
    );
    await q.createIndex(
      'os_upload_parts',
      new TableIndex({ name: 'os_upload_parts_data_id', columnNames: ['data_id'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['os_upload_parts', 'os_uploads', 'os_objects', 'os_containers', 'os_accounts']) {
      await q.dropTable(table, true);
    }
  }
}

export const objectStorageMigrations = [ObjectStorageInit1732600000000];
