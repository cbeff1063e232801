/**
 * The identity schema: domains, projects, users, roles, role assignments, the service
 * catalog and EC2 credentials, plus the Default domain (id "default") that Keystone always has.
 * Written with the Table API so the same migration runs on PostgreSQL and SQLite.
 */
import { Table, TableForeignKey, type MigrationInterface, type QueryRunner } from '@strato/db';

const id = (name = 'id') => ({ name, type: 'varchar', length: '64', isPrimary: true });
const ref = (name: string, isNullable = false) => ({ name, type: 'varchar', length: '64', isNullable });
const text = (name: string, isNullable = false) => ({ name, type: 'text', isNullable });
const bool = (name: string) => ({ name, type: 'boolean', isNullable: false });

const cascade = (column: string, table: string) =>
  new TableForeignKey({
    columnNames: [column],
    referencedTableName: table,
    referencedColumnNames: ['id'],
    onDelete: 'CASCADE',
  });

export class IdentityInitial1760000000000 implements MigrationInterface {
  name = 'IdentityInitial1760000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'domain',
        columns: [
          id(),
          { name: 'name', type: 'varchar', length: '64' },
          text('description'),
          bool('enabled'),
          text('extra'),
        ],
        uniques: [{ name: 'uq_domain_name', columnNames: ['name'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'project',
        columns: [
          id(),
          { name: 'name', type: 'varchar', length: '64' },
          ref('domain_id'),
          ref('parent_id', true),
          text('description'),
          bool('enabled'),
          text('tags'),
          text('extra'),
        ],
        uniques: [{ name: 'uq_project_domain_name', columnNames: ['domain_id', 'name'] }],
        foreignKeys: [cascade('domain_id', 'domain')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'user_account',
        columns: [
          id(),
          { name: 'name', type: 'varchar', length: '255' },
          ref('domain_id'),
          text('password_hash', true),
          bool('enabled'),
          ref('default_project_id', true),
          text('extra'),
        ],
        uniques: [{ name: 'uq_user_domain_name', columnNames: ['domain_id', 'name'] }],
        foreignKeys: [cascade('domain_id', 'domain')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'role',
        columns: [
          id(),
          { name: 'name', type: 'varchar', length: '255' },
          text('description', true),
          text('extra'),
        ],
        uniques: [{ name: 'uq_role_name', columnNames: ['name'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'role_assignment',
        columns: [
          { ...ref('user_id'), isPrimary: true },
          { ...ref('project_id'), isPrimary: true },
          { ...ref('role_id'), isPrimary: true },
        ],
        indices: [
          { name: 'ix_assignment_project', columnNames: ['project_id'] },
          { name: 'ix_assignment_role', columnNames: ['role_id'] },
        ],
        foreignKeys: [
          cascade('user_id', 'user_account'),
          cascade('project_id', 'project'),
          cascade('role_id', 'role'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'service',
        columns: [
          id(),
          { name: 'type', type: 'varchar', length: '255' },
          { name: 'name', type: 'varchar', length: '255' },
          bool('enabled'),
        ],
        uniques: [{ name: 'uq_service_type_name', columnNames: ['type', 'name'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'endpoint',
        columns: [
          id(),
          ref('service_id'),
          { name: 'interface', type: 'varchar', length: '8' },
          { name: 'region', type: 'varchar', length: '255' },
          text('url'),
          bool('enabled'),
        ],
        uniques: [
          {
            name: 'uq_endpoint_service_interface_region',
            columnNames: ['service_id', 'interface', 'region'],
          },
        ],
        foreignKeys: [cascade('service_id', 'service')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'ec2_credential',
        columns: [id('access'), ref('user_id'), ref('project_id'), text('secret_blob')],
        indices: [{ name: 'ix_ec2_user', columnNames: ['user_id'] }],
        foreignKeys: [cascade('user_id', 'user_account'), cascade('project_id', 'project')],
      }),
    );

    const postgres = q.connection.options.type === 'postgres';
    const schema = (q.connection.options as { schema?: string }).schema;
    const domainTable = postgres && schema ? `"${schema.replace(/"/g, '""')}"."domain"` : '"domain"';
    await q.query(
      `INSERT INTO ${domainTable} (id, name, description, enabled, extra) ` +
        `VALUES ('default', 'Default', 'The default domain', ${postgres ? 'TRUE' : '1'}, '{}')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'ec2_credential',
      'endpoint',
      'service',
      'role_assignment',
      'role',
      'user_account',
      'project',
      'domain',
    ]) {
      await q.dropTable(table, true);
    }
  }
}
