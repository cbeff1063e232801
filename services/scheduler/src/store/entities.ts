/**
 * Placement tables as typeorm EntitySchemas (no decorators): hosts as resource providers,
 * their inventories, the allocations claimed against them, and the scheduler's record of
 * each instance it is placing (for idempotency, rescheduling and server groups).
 */
import { EntitySchema } from '@strato/db';

export interface ResourceProviderRow {
  id: number;
  host: string;
  availability_zone: string;
  enabled: boolean;
  disabled_reason: string | null;
  /** An admin's word that the host is down (os-services forced_down), whatever its heartbeat. */
  forced_down: boolean;
  hypervisor_type: string;
  hypervisor_version: number;
  host_ip: string;
  architecture: string;
  cpu_info: string;
  /** JSON object of string → string. */
  capabilities: string;
  /** JSON array of trait names. */
  traits: string;
  /** Bumped on every change of inventory or allocations (a change counter for observers). */
  generation: number;
  /** ISO time of the agent's last report applied. */
  reported_at: string;
  created_at: string;
}

export interface InventoryRow {
  provider_id: number;
  resource_class: string;
  total: number;
  reserved: number;
  allocation_ratio: number;
}

export interface AllocationRow {
  consumer_id: string;
  provider_id: number;
  resource_class: string;
  used: number;
}

export const SCHEDULING_STATUSES = ['scheduling', 'building', 'active', 'error', 'deleted'] as const;
export type SchedulingStatus = (typeof SCHEDULING_STATUSES)[number];

export interface SchedulingRow {
  instance_id: string;
  status: SchedulingStatus;
  attempt: number;
  host: string | null;
  server_group_id: string | null;
  /** The last schedule request (JSON), kept to reschedule. Empty for tombstones. */
  request: string;
  /** JSON array of hosts excluded by failed attempts. */
  excluded_hosts: string;
  /** JSON fault when status is error. */
  fault: string | null;
  updated_at: string;
}

export const ResourceProviderEntity = new EntitySchema<ResourceProviderRow>({
  name: 'ResourceProvider',
  tableName: 'resource_providers',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    host: { type: 'varchar', length: 255, unique: true },
    availability_zone: { type: 'varchar', length: 255 },
    enabled: { type: 'boolean' },
    disabled_reason: { type: 'varchar', length: 255, nullable: true },
    forced_down: { type: 'boolean', default: false },
    hypervisor_type: { type: 'varchar', length: 64 },
    hypervisor_version: { type: 'integer' },
    host_ip: { type: 'varchar', length: 64 },
    architecture: { type: 'varchar', length: 32 },
    cpu_info: { type: 'text' },
    capabilities: { type: 'text' },
    traits: { type: 'text' },
    generation: { type: 'integer' },
    reported_at: { type: 'varchar', length: 40 },
    created_at: { type: 'varchar', length: 40 },
  },
});

export const InventoryEntity = new EntitySchema<InventoryRow>({
  name: 'Inventory',
  tableName: 'inventories',
  columns: {
    provider_id: { type: 'integer', primary: true },
    resource_class: { type: 'varchar', length: 32, primary: true },
    total: { type: 'integer' },
    reserved: { type: 'integer' },
    allocation_ratio: { type: 'double precision' },
  },
});

export const AllocationEntity = new EntitySchema<AllocationRow>({
  name: 'Allocation',
  tableName: 'allocations',
  columns: {
    consumer_id: { type: 'varchar', length: 64, primary: true },
    provider_id: { type: 'integer', primary: true },
    resource_class: { type: 'varchar', length: 32, primary: true },
    used: { type: 'integer' },
  },
});

export const SchedulingEntity = new EntitySchema<SchedulingRow>({
  name: 'SchedulingRequest',
  tableName: 'scheduling_requests',
  columns: {
    instance_id: { type: 'varchar', length: 64, primary: true },
    status: { type: 'varchar', length: 16 },
    attempt: { type: 'integer' },
    host: { type: 'varchar', length: 255, nullable: true },
    server_group_id: { type: 'varchar', length: 255, nullable: true },
    request: { type: 'text' },
    excluded_hosts: { type: 'text' },
    fault: { type: 'text', nullable: true },
    updated_at: { type: 'varchar', length: 40 },
  },
});

export const schedulerEntities = [
  ResourceProviderEntity,
  InventoryEntity,
  AllocationEntity,
  SchedulingEntity,
] as EntitySchema[];
