/**
 * The placement schema: resource_providers, inventories, allocations, scheduling_requests.
 * Written with the Table API so the same migration runs on PostgreSQL and SQLite.
 */
import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from '@strato/db';

const str = (name: string, length: number, isNullable = false) => ({
  name,
  type: 'varchar',
  length: String(length),
  isNullable,
});
const int = (name: string) => ({ name, type: 'integer', isNullable: false });
const text = (name: string, isNullable = false) => ({ name, type: 'text', isNullable });

const providerFk = (onDelete: 'CASCADE' | 'RESTRICT') =>
  new TableForeignKey({
    columnNames: ['provider_id'],
    referencedTableName: 'resource_providers',
    referencedColumnNames: ['id'],
    onDelete,
  });

export class PlacementInitial1761000000000 implements MigrationInterface {
  name = 'PlacementInitial1761000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'resource_providers',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          str('host', 255),
          str('availability_zone', 255),
          { name: 'enabled', type: 'boolean', isNullable: false },
          str('disabled_reason', 255, true),
          str('hypervisor_type', 64),
          int('hypervisor_version'),
          str('host_ip', 64),
          str('architecture', 32),
          text('cpu_info'),
          text('capabilities'),
          text('traits'),
          int('generation'),
          str('reported_at', 40),
          str('created_at', 40),
        ],
        uniques: [{ name: 'uq_resource_providers_host', columnNames: ['host'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'inventories',
        columns: [
          { ...int('provider_id'), isPrimary: true },
          { ...str('resource_class', 32), isPrimary: true },
          int('total'),
          int('reserved'),
          { name: 'allocation_ratio', type: 'double precision', isNullable: false },
        ],
        foreignKeys: [providerFk('CASCADE')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'allocations',
        columns: [
          { ...str('consumer_id', 64), isPrimary: true },
          { ...int('provider_id'), isPrimary: true },
          { ...str('resource_class', 32), isPrimary: true },
          int('used'),
        ],
        foreignKeys: [providerFk('RESTRICT')],
      }),
    );
    await q.createIndex(
      'allocations',
      new TableIndex({ name: 'ix_allocations_provider', columnNames: ['provider_id'] }),
    );
    await q.createTable(
      new Table({
        name: 'scheduling_requests',
        columns: [
          { ...str('instance_id', 64), isPrimary: true },
          str('status', 16),
          int('attempt'),
          str('host', 255, true),
          str('server_group_id', 255, true),
          text('request'),
          text('excluded_hosts'),
          text('fault', true),
          str('updated_at', 40),
        ],
      }),
    );
    await q.createIndex(
      'scheduling_requests',
      new TableIndex({ name: 'ix_scheduling_status_host', columnNames: ['status', 'host'] }),
    );
    await q.createIndex(
      'scheduling_requests',
      new TableIndex({ name: 'ix_scheduling_group', columnNames: ['server_group_id'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('scheduling_requests');
    await q.dropTable('allocations');
    await q.dropTable('inventories');
    await q.dropTable('resource_providers');
  }
}
