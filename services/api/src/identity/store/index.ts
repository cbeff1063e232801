/** The identity store: its entities and the migrations that create their tables. */
import type { EntitySchema, MigrationInterface } from '@strato/db';
import {
  AssignmentEntity,
  DomainEntity,
  Ec2CredentialEntity,
  EndpointEntity,
  ProjectEntity,
  RoleEntity,
  ServiceEntity,
  UserEntity,
} from './entities';
import { IdentityInitial1760000000000 } from './migrations/1760000000000-identity-initial';

export * from './entities';

export const identityEntities: EntitySchema[] = [
  DomainEntity,
  ProjectEntity,
  UserEntity,
  RoleEntity,
  AssignmentEntity,
  ServiceEntity,
  EndpointEntity,
  Ec2CredentialEntity,
] as EntitySchema[];

export const identityMigrations: (new () => MigrationInterface)[] = [IdentityInitial1760000000000];
