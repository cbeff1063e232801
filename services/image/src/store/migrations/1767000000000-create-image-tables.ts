/** The image catalogue: images, their properties, tags and members (Glance's tables). */
import { Table, TableIndex, type MigrationInterface, type QueryRunner } from '@strato/db';

const cascade = (table: string) => ({
  name: `fk_${table}_image`,
  columnNames: ['image_id'],
  referencedTableName: 'images',
  referencedColumnNames: ['id'],
  onDelete: 'CASCADE',
});

export class CreateImageTables1767000000000 implements MigrationInterface {
  name = 'CreateImageTables1767000000000';

  async up(qr: QueryRunner): Promise<void> {
    await qr.createTable(
      new Table({
        name: 'images',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '255', isNullable: true },
          { name: 'status', type: 'varchar', length: '30' },
          { name: 'visibility', type: 'varchar', length: '20' },
          { name: 'protected', type: 'boolean' },
          { name: 'os_hidden', type: 'boolean' },
          { name: 'owner', type: 'varchar', length: '255', isNullable: true },
          { name: 'disk_format', type: 'varchar', length: '20', isNullable: true },
          { name: 'container_format', type: 'varchar', length: '20', isNullable: true },
          { name: 'min_disk', type: 'int' },
          { name: 'min_ram', type: 'int' },
          { name: 'size', type: 'bigint', isNullable: true },
          { name: 'virtual_size', type: 'bigint', isNullable: true },
          { name: 'checksum', type: 'varchar', length: '32', isNullable: true },
          { name: 'os_hash_algo', type: 'varchar', length: '64', isNullable: true },
          { name: 'os_hash_value', type: 'varchar', length: '128', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
        indices: [
          new TableIndex({ name: 'ix_images_owner', columnNames: ['owner'] }),
          new TableIndex({ name: 'ix_images_visibility', columnNames: ['visibility'] }),
          new TableIndex({ name: 'ix_images_name', columnNames: ['name'] }),
          new TableIndex({ name: 'ix_images_created', columnNames: ['created_at', 'id'] }),
        ],
      }),
    );
    await qr.createTable(
      new Table({
        name: 'image_properties',
        columns: [
          { name: 'image_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '255', isPrimary: true },
          { name: 'value', type: 'text' },
        ],
        foreignKeys: [cascade('image_properties')],
        indices: [new TableIndex({ name: 'ix_image_properties_name', columnNames: ['name'] })],
      }),
    );
    await qr.createTable(
      new Table({
        name: 'image_tags',
        columns: [
          { name: 'image_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'value', type: 'varchar', length: '255', isPrimary: true },
        ],
        foreignKeys: [cascade('image_tags')],
        indices: [new TableIndex({ name: 'ix_image_tags_value', columnNames: ['value'] })],
      }),
    );
    await qr.createTable(
      new Table({
        name: 'image_members',
        columns: [
          { name: 'image_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'member_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'status', type: 'varchar', length: '20' },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
        foreignKeys: [cascade('image_members')],
        indices: [new TableIndex({ name: 'ix_image_members_member', columnNames: ['member_id'] })],
      }),
    );
  }

  async down(qr: QueryRunner): Promise<void> {
    for (const t of ['image_members', 'image_tags', 'image_properties', 'images']) await qr.dropTable(t);
  }
}
