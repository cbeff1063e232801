/**
 * The compute schema: flavors (with the classic m1.* set), flavor access, instances, key
 * pairs, quotas, server groups and the outbox. Table API only, so it runs on PostgreSQL and
 * SQLite alike.
 */
import { Table, type MigrationInterface, type QueryRunner } from '@strato/db';

type Col = ConstructorParameters<typeof Table>[0] extends infer T
  ? T extends { columns?: (infer C)[] }
    ? C
    : never
  : never;

const varchar = (name: string, length: number, isNullable = false): Col => ({
  name,
  type: 'varchar',
  length: String(length),
  isNullable,
});
const time = (name: string, isNullable = false): Col => varchar(name, 32, isNullable);
const int = (name: string): Col => ({ name, type: 'integer' });
const text = (name: string, isNullable = false): Col => ({ name, type: 'text', isNullable });
const bool = (name: string): Col => ({ name, type: 'boolean' });
const serial = (name: string): Col => ({
  name,
  type: 'integer',
  isPrimary: true,
  isGenerated: true,
  generationStrategy: 'increment',
});

/** Nova's classic default flavors. */
export const DEFAULT_FLAVORS = [
  { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1 },
  { id: '2', name: 'm1.small', vcpus: 1, ram: 2048, disk: 20 },
  { id: '3', name: 'm1.medium', vcpus: 2, ram: 4096, disk: 40 },
  { id: '4', name: 'm1.large', vcpus: 4, ram: 8192, disk: 80 },
  { id: '5', name: 'm1.xlarge', vcpus: 8, ram: 16384, disk: 160 },
] as const;

export class ComputeInitial1761000000000 implements MigrationInterface {
  name = 'ComputeInitial1761000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'flavors',
        columns: [
          { ...varchar('id', 255), isPrimary: true },
          varchar('name', 255),
          int('vcpus'),
          int('ram_mb'),
          int('disk_gb'),
          int('ephemeral_gb'),
          int('swap_mb'),
          { name: 'rxtx_factor', type: 'float' },
          bool('is_public'),
          bool('disabled'),
          text('description', true),
          text('extra_specs'),
          time('created_at'),
        ],
        uniques: [{ name: 'uq_flavors_name', columnNames: ['name'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'flavor_projects',
        columns: [
          { ...varchar('flavor_id', 255), isPrimary: true },
          { ...varchar('project_id', 255), isPrimary: true },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'instances',
        columns: [
          serial('seq'),
          varchar('id', 36),
          varchar('project_id', 255),
          varchar('user_id', 255),
          varchar('name', 255),
          text('description', true),
          varchar('hostname', 255),
          varchar('flavor_id', 255),
          int('vcpus'),
          int('ram_mb'),
          int('disk_gb'),
          text('flavor'),
          varchar('image_id', 255),
          varchar('key_name', 255, true),
          text('key_data', true),
          text('user_data', true),
          text('metadata'),
          text('tags'),
          varchar('availability_zone', 255, true),
          varchar('server_group_id', 36, true),
          varchar('host', 255, true),
          varchar('vm_state', 32),
          varchar('task_state', 32, true),
          int('power_state'),
          text('fault', true),
          int('attempt'),
          time('last_event_at', true),
          time('launched_at', true),
          time('terminated_at', true),
          time('created_at'),
          time('updated_at'),
          time('deleted_at', true),
          bool('deleted'),
          bool('locked'),
          varchar('reservation_id', 32),
          int('launch_index'),
          varchar('access_ipv4', 64),
          varchar('access_ipv6', 64),
          varchar('config_drive', 16),
        ],
        uniques: [{ name: 'uq_instances_id', columnNames: ['id'] }],
        indices: [
          { name: 'ix_instances_project', columnNames: ['project_id', 'deleted'] },
          { name: 'ix_instances_host', columnNames: ['host'] },
          { name: 'ix_instances_updated', columnNames: ['updated_at'] },
          { name: 'ix_instances_group', columnNames: ['server_group_id'] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'keypairs',
        columns: [
          serial('id'),
          varchar('user_id', 255),
          varchar('name', 255),
          varchar('type', 16),
          text('public_key'),
          varchar('fingerprint', 255),
          time('created_at'),
        ],
        uniques: [{ name: 'uq_keypairs_user_name', columnNames: ['user_id', 'name'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'quotas',
        columns: [
          { ...varchar('project_id', 255), isPrimary: true },
          { ...varchar('resource', 64), isPrimary: true },
          int('hard_limit'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'server_groups',
        columns: [
          { ...varchar('id', 36), isPrimary: true },
          varchar('name', 255),
          varchar('project_id', 255),
          varchar('user_id', 255),
          varchar('policy', 32),
          text('rules'),
          time('created_at'),
        ],
        indices: [{ name: 'ix_server_groups_project', columnNames: ['project_id'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'outbox',
        columns: [
          serial('seq'),
          varchar('id', 36),
          varchar('message_type', 128),
          varchar('host', 255, true),
          text('payload'),
          varchar('request_id', 255),
          time('created_at'),
        ],
        uniques: [{ name: 'uq_outbox_id', columnNames: ['id'] }],
      }),
    );

    const postgres = q.connection.options.type === 'postgres';
    const schema = (q.connection.options as { schema?: string }).schema;
    const table = postgres && schema ? `"${schema.replace(/"/g, '""')}"."flavors"` : '"flavors"';
    const [yes, no] = postgres ? ['TRUE', 'FALSE'] : ['1', '0'];
    const now = new Date().toISOString();
    const rows = DEFAULT_FLAVORS.map(
      (f) =>
        `('${f.id}', '${f.name}', ${f.vcpus}, ${f.ram}, ${f.disk}, 0, 0, 1.0, ${yes}, ${no}, NULL, '{}', '${now}')`,
    );
    await q.query(
      `INSERT INTO ${table} (id, name, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, rxtx_factor, ` +
        `is_public, disabled, description, extra_specs, created_at) VALUES ${rows.join(', ')}`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'outbox',
      'server_groups',
      'quotas',
      'keypairs',
      'instances',
      'flavor_projects',
      'flavors',
    ]) {
      await q.dropTable(table, true);
    }
  }
}
