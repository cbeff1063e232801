/** The image service's tables and migrations, for openInfra. */
import type { EntitySchema, MigrationInterface } from '@strato/db';
import { ImageEntity, ImageMemberEntity, ImagePropertyEntity, ImageTagEntity } from './image.entity';
import { CreateImageTables1767000000000 } from './migrations/1767000000000-create-image-tables';

export const imageEntities: EntitySchema[] = [
  ImageEntity,
  ImagePropertyEntity,
  ImageTagEntity,
  ImageMemberEntity,
] as EntitySchema[];
export const imageMigrations: (new () => MigrationInterface)[] = [CreateImageTables1767000000000];
export { TypeormImageRepository } from './image.repository';
