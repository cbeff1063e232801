/**
 * Identity tables as typeorm EntitySchemas (no decorators). Rows are plain records in the
 * database's own naming; the service turns them into domain objects.
 */
import { EntitySchema } from '@strato/db';

export type Extra = Record<string, unknown>;

export interface DomainRow {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  extra: Extra;
}

export interface ProjectRow {
  id: string;
  name: string;
  domainId: string;
  /** The parent project, or null for a top-level project (whose parent is its domain). */
  parentId: string | null;
  description: string;
  enabled: boolean;
  tags: string[];
  extra: Extra;
}

export interface UserRow {
  id: string;
  name: string;
  domainId: string;
  /** scrypt hash from @strato/auth; null means the user cannot authenticate by password. */
  passwordHash: string | null;
  enabled: boolean;
  defaultProjectId: string | null;
  extra: Extra;
}

export interface RoleRow {
  id: string;
  name: string;
  description: string | null;
  extra: Extra;
}

export interface AssignmentRow {
  userId: string;
  projectId: string;
  roleId: string;
}

export interface ServiceRow {
  id: string;
  type: string;
  name: string;
  enabled: boolean;
}

export interface EndpointRow {
  id: string;
  serviceId: string;
  interface: string;
  region: string;
  url: string;
  enabled: boolean;
}

export interface Ec2CredentialRow {
  access: string;
  userId: string;
  projectId: string;
  /** The secret, encrypted (kid:iv:ciphertext:tag); never stored or logged in clear. */
  secretBlob: string;
}

const id = { type: 'varchar', length: 64, primary: true } as const;
const ref = (name: string, nullable = false) => ({ name, type: 'varchar', length: 64, nullable }) as const;
const json = { type: 'simple-json' } as const;

export const DomainEntity = new EntitySchema<DomainRow>({
  name: 'IdentityDomain',
  tableName: 'domain',
  columns: {
    id,
    name: { type: 'varchar', length: 64 },
    description: { type: 'text' },
    enabled: { type: 'boolean' },
    extra: json,
  },
});

export const ProjectEntity = new EntitySchema<ProjectRow>({
  name: 'IdentityProject',
  tableName: 'project',
  columns: {
    id,
    name: { type: 'varchar', length: 64 },
    domainId: ref('domain_id'),
    parentId: ref('parent_id', true),
    description: { type: 'text' },
    enabled: { type: 'boolean' },
    tags: json,
    extra: json,
  },
});

export const UserEntity = new EntitySchema<UserRow>({
  name: 'IdentityUser',
  tableName: 'user_account',
  columns: {
    id,
    name: { type: 'varchar', length: 255 },
    domainId: ref('domain_id'),
    passwordHash: { name: 'password_hash', type: 'text', nullable: true },
    enabled: { type: 'boolean' },
    defaultProjectId: ref('default_project_id', true),
    extra: json,
  },
});

export const RoleEntity = new EntitySchema<RoleRow>({
  name: 'IdentityRole',
  tableName: 'role',
  columns: {
    id,
    name: { type: 'varchar', length: 255 },
    description: { type: 'text', nullable: true },
    extra: json,
  },
});

export const AssignmentEntity = new EntitySchema<AssignmentRow>({
  name: 'IdentityAssignment',
  tableName: 'role_assignment',
  columns: {
    userId: { ...ref('user_id'), primary: true },
    projectId: { ...ref('project_id'), primary: true },
    roleId: { ...ref('role_id'), primary: true },
  },
});

export const ServiceEntity = new EntitySchema<ServiceRow>({
  name: 'IdentityService',
  tableName: 'service',
  columns: {
    id,
    type: { type: 'varchar', length: 255 },
    name: { type: 'varchar', length: 255 },
    enabled: { type: 'boolean' },
  },
});

export const EndpointEntity = new EntitySchema<EndpointRow>({
  name: 'IdentityEndpoint',
  tableName: 'endpoint',
  columns: {
    id,
    serviceId: ref('service_id'),
    interface: { type: 'varchar', length: 8 },
    region: { type: 'varchar', length: 255 },
    url: { type: 'text' },
    enabled: { type: 'boolean' },
  },
});

export const Ec2CredentialEntity = new EntitySchema<Ec2CredentialRow>({
  name: 'IdentityEc2Credential',
  tableName: 'ec2_credential',
  columns: {
    access: { type: 'varchar', length: 64, primary: true },
    userId: ref('user_id'),
    projectId: ref('project_id'),
    secretBlob: { name: 'secret_blob', type: 'text' },
  },
});
