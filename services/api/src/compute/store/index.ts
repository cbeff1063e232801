/** The compute store: entities and the migrations that create their tables. */
import type { EntitySchema, MigrationInterface } from '@strato/db';
import {
  FlavorAccessEntity,
  FlavorEntity,
  InstanceEntity,
  KeypairEntity,
  OutboxEntity,
  QuotaEntity,
  ServerGroupEntity,
} from './entities';
import { ComputeInitial1761000000000 } from './migrations/1761000000000-compute-initial';
import { ComputeQuotaGuard1764000000000 } from './migrations/1764000000000-compute-quota-guard';

export * from './entities';
export { QUOTA_GUARD_MESSAGE } from './migrations/1764000000000-compute-quota-guard';

export const computeEntities: EntitySchema[] = [
  FlavorEntity,
  FlavorAccessEntity,
  InstanceEntity,
  KeypairEntity,
  QuotaEntity,
  ServerGroupEntity,
  OutboxEntity,
] as EntitySchema[];

export const computeMigrations: (new () => MigrationInterface)[] = [
  ComputeInitial1761000000000,
  ComputeQuotaGuard1764000000000,
];
