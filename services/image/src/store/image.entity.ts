/**
 * Table mappings (EntitySchema, no decorators). Times and sizes are stored as integers
 * (milliseconds since the epoch, bytes) so they sort and compare the same on PostgreSQL and
 * SQLite; PostgreSQL hands bigints back as strings, hence the transformer.
 */
import { EntitySchema } from '@strato/db';

export interface ImageRow {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: boolean;
  os_hidden: boolean;
  owner: string | null;
  disk_format: string | null;
  container_format: string | null;
  min_disk: number;
  min_ram: number;
  size: number | null;
  virtual_size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  created_at: number;
  updated_at: number;
}

export interface ImagePropertyRow {
  image_id: string;
  name: string;
  value: string;
}

export interface ImageTagRow {
  image_id: string;
  value: string;
}

export interface ImageMemberRow {
  image_id: string;
  member_id: string;
  status: string;
  created_at: number;
  updated_at: number;
}

const bigintAsNumber = {
  to: (v: number | null | undefined) => v,
  from: (v: string | number | null) => (v === null || v === undefined ? null : Number(v)),
};

export const ImageEntity = new EntitySchema<ImageRow>({
  name: 'ImageRow',
  tableName: 'images',
  columns: {
    id: { type: 'varchar', length: 36, primary: true },
    name: { type: 'varchar', length: 255, nullable: true },
    status: { type: 'varchar', length: 30 },
    visibility: { type: 'varchar', length: 20 },
    protected: { type: 'boolean' },
    os_hidden: { type: 'boolean' },
    owner: { type: 'varchar', length: 255, nullable: true },
    disk_format: { type: 'varchar', length: 20, nullable: true },
    container_format: { type: 'varchar', length: 20, nullable: true },
    min_disk: { type: 'int' },
    min_ram: { type: 'int' },
    size: { type: 'bigint', nullable: true, transformer: bigintAsNumber },
    virtual_size: { type: 'bigint', nullable: true, transformer: bigintAsNumber },
    checksum: { type: 'varchar', length: 32, nullable: true },
    os_hash_algo: { type: 'varchar', length: 64, nullable: true },
    os_hash_value: { type: 'varchar', length: 128, nullable: true },
    created_at: { type: 'bigint', transformer: bigintAsNumber },
    updated_at: { type: 'bigint', transformer: bigintAsNumber },
  },
});

export const ImagePropertyEntity = new EntitySchema<ImagePropertyRow>({
  name: 'ImagePropertyRow',
  tableName: 'image_properties',
  columns: {
    image_id: { type: 'varchar', length: 36, primary: true },
    name: { type: 'varchar', length: 255, primary: true },
    value: { type: 'text' },
  },
});

export const ImageTagEntity = new EntitySchema<ImageTagRow>({
  name: 'ImageTagRow',
  tableName: 'image_tags',
  columns: {
    image_id: { type: 'varchar', length: 36, primary: true },
    value: { type: 'varchar', length: 255, primary: true },
  },
});

export const ImageMemberEntity = new EntitySchema<ImageMemberRow>({
  name: 'ImageMemberRow',
  tableName: 'image_members',
  columns: {
    image_id: { type: 'varchar', length: 36, primary: true },
    member_id: { type: 'varchar', length: 255, primary: true },
    status: { type: 'varchar', length: 20 },
    created_at: { type: 'bigint', transformer: bigintAsNumber },
    updated_at: { type: 'bigint', transformer: bigintAsNumber },
  },
});
