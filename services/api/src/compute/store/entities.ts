/**
 * Compute tables as typeorm EntitySchemas (no decorators). Timestamps are ISO 8601 strings in
 * UTC with milliseconds (sortable as text, identical on PostgreSQL and SQLite).
 */
import { EntitySchema } from '@strato/db';
import type { Fault, PowerState, TaskState, VmState } from '@strato/contracts';

export interface FlavorRow {
  id: string;
  name: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  ephemeralGb: number;
  swapMb: number;
  rxtxFactor: number;
  isPublic: boolean;
  disabled: boolean;
  description: string | null;
  extraSpecs: Record<string, string>;
  createdAt: string;
}

export interface FlavorAccessRow {
  flavorId: string;
  projectId: string;
}

/** The flavor as the instance was built with it (Nova embeds a copy in the instance). */
export interface InstanceFlavor {
  id: string;
  name: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  ephemeralGb: number;
  swapMb: number;
  extraSpecs: Record<string, string>;
}

export interface InstanceRow {
  seq: number;
  id: string;
  projectId: string;
  userId: string;
  name: string;
  description: string | null;
  hostname: string;
  flavorId: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  flavor: InstanceFlavor;
  imageId: string;
  keyName: string | null;
  keyData: string | null;
  userData: string | null;
  metadata: Record<string, string>;
  tags: string[];
  /** The zone the user asked for (null: any), then that of the host it was placed on. */
  availabilityZone: string | null;
  serverGroupId: string | null;
  host: string | null;
  vmState: VmState;
  taskState: TaskState | null;
  powerState: PowerState;
  fault: (Fault & { created: string }) | null;
  attempt: number;
  lastEventAt: string | null;
  launchedAt: string | null;
  terminatedAt: string | null;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  deleted: boolean;
  locked: boolean;
  reservationId: string;
  launchIndex: number;
  accessIpv4: string;
  accessIpv6: string;
  configDrive: string;
}

export interface KeypairRow {
  id: number;
  userId: string;
  name: string;
  type: string;
  publicKey: string;
  fingerprint: string;
  createdAt: string;
}

export interface QuotaRow {
  projectId: string;
  resource: string;
  hardLimit: number;
}

export interface ServerGroupRow {
  id: string;
  name: string;
  projectId: string;
  userId: string;
  policy: string;
  rules: Record<string, unknown>;
  createdAt: string;
}

/** A message to publish, written in the same transaction as the change it announces. */
export interface OutboxRow {
  /** The message id (fixed, so a re-publish after a crash is recognisably the same message). */
  id: string;
  messageType: string;
  /** Compute host for messages to an agent; null for the scheduler. */
  host: string | null;
  payload: Record<string, unknown>;
  requestId: string;
  createdAt: string;
  seq: number;
}

const str = (length: number, name?: string, nullable = false) =>
  ({ type: 'varchar', length, nullable, ...(name ? { name } : {}) }) as const;
const time = (name: string, nullable = false) => ({ type: 'varchar', length: 32, name, nullable }) as const;
const int = (name?: string) => ({ type: 'integer', ...(name ? { name } : {}) }) as const;
const json = (name?: string, nullable = false) =>
  ({ type: 'simple-json', nullable, ...(name ? { name } : {}) }) as const;

export const FlavorEntity = new EntitySchema<FlavorRow>({
  name: 'ComputeFlavor',
  tableName: 'flavors',
  columns: {
    id: { type: 'varchar', length: 255, primary: true },
    name: str(255),
    vcpus: int(),
    ramMb: int('ram_mb'),
    diskGb: int('disk_gb'),
    ephemeralGb: int('ephemeral_gb'),
    swapMb: int('swap_mb'),
    rxtxFactor: { type: 'float', name: 'rxtx_factor' },
    isPublic: { type: 'boolean', name: 'is_public' },
    disabled: { type: 'boolean' },
    description: { type: 'text', nullable: true },
    extraSpecs: json('extra_specs'),
    createdAt: time('created_at'),
  },
});

export const FlavorAccessEntity = new EntitySchema<FlavorAccessRow>({
  name: 'ComputeFlavorAccess',
  tableName: 'flavor_projects',
  columns: {
    flavorId: { type: 'varchar', length: 255, name: 'flavor_id', primary: true },
    projectId: { type: 'varchar', length: 255, name: 'project_id', primary: true },
  },
});

export const InstanceEntity = new EntitySchema<InstanceRow>({
  name: 'ComputeInstance',
  tableName: 'instances',
  columns: {
    seq: { type: 'integer', primary: true, generated: 'increment' },
    id: str(36),
    projectId: str(255, 'project_id'),
    userId: str(255, 'user_id'),
    name: str(255),
    description: { type: 'text', nullable: true },
    hostname: str(255),
    flavorId: str(255, 'flavor_id'),
    vcpus: int(),
    ramMb: int('ram_mb'),
    diskGb: int('disk_gb'),
    flavor: json(),
    imageId: str(255, 'image_id'),
    keyName: str(255, 'key_name', true),
    keyData: { type: 'text', name: 'key_data', nullable: true },
    userData: { type: 'text', name: 'user_data', nullable: true },
    metadata: json(),
    tags: json(),
    availabilityZone: str(255, 'availability_zone', true),
    serverGroupId: str(36, 'server_group_id', true),
    host: str(255, undefined, true),
    vmState: str(32, 'vm_state'),
    taskState: str(32, 'task_state', true),
    powerState: int('power_state'),
    fault: json('fault', true),
    attempt: int(),
    lastEventAt: time('last_event_at', true),
    launchedAt: time('launched_at', true),
    terminatedAt: time('terminated_at', true),
    createdAt: time('created_at'),
    updatedAt: time('updated_at'),
    deletedAt: time('deleted_at', true),
    deleted: { type: 'boolean' },
    locked: { type: 'boolean' },
    reservationId: str(32, 'reservation_id'),
    launchIndex: int('launch_index'),
    accessIpv4: str(64, 'access_ipv4'),
    accessIpv6: str(64, 'access_ipv6'),
    configDrive: str(16, 'config_drive'),
  },
});

export const KeypairEntity = new EntitySchema<KeypairRow>({
  name: 'ComputeKeypair',
  tableName: 'keypairs',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    userId: str(255, 'user_id'),
    name: str(255),
    type: str(16),
    publicKey: { type: 'text', name: 'public_key' },
    fingerprint: str(255),
    createdAt: time('created_at'),
  },
});

export const QuotaEntity = new EntitySchema<QuotaRow>({
  name: 'ComputeQuota',
  tableName: 'quotas',
  columns: {
    projectId: { type: 'varchar', length: 255, name: 'project_id', primary: true },
    resource: { type: 'varchar', length: 64, primary: true },
    hardLimit: int('hard_limit'),
  },
});

export const ServerGroupEntity = new EntitySchema<ServerGroupRow>({
  name: 'ComputeServerGroup',
  tableName: 'server_groups',
  columns: {
    id: { type: 'varchar', length: 36, primary: true },
    name: str(255),
    projectId: str(255, 'project_id'),
    userId: str(255, 'user_id'),
    policy: str(32),
    rules: json(),
    createdAt: time('created_at'),
  },
});

export const OutboxEntity = new EntitySchema<OutboxRow>({
  name: 'ComputeOutbox',
  tableName: 'outbox',
  columns: {
    seq: { type: 'integer', primary: true, generated: 'increment' },
    id: str(36),
    messageType: str(128, 'message_type'),
    host: str(255, undefined, true),
    payload: json(),
    requestId: str(255, 'request_id'),
    createdAt: time('created_at'),
  },
});
