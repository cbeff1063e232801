/** The scheduler's domain vocabulary: hosts as seen for placement, and what a request needs. */
import type { ResourceClass, ServerGroup } from '@strato/contracts';

export type Resources = Record<ResourceClass, number>;

export interface InventoryState {
  total: number;
  reserved: number;
  allocationRatio: number;
  /** Sum of allocations against it. */
  used: number;
}

/** A host as filters and weighers see it: a resource provider plus liveness and load. */
export interface HostState {
  id: number;
  host: string;
  availabilityZone: string;
  enabled: boolean;
  disabledReason: string | null;
  /** Forced down by an admin (os-services forced_down): not alive, whatever its heartbeat. */
  forcedDown: boolean;
  /** Fresh heartbeat in the cache, and not forced down. */
  alive: boolean;
  /** Fresh heartbeat in the cache (forced down or not). */
  heartbeat: boolean;
  hypervisorType: string;
  hypervisorVersion: number;
  hostIp: string;
  architecture: string;
  cpuInfo: string;
  capabilities: Readonly<Record<string, string>>;
  traits: readonly string[];
  inventory: Readonly<Partial<Record<ResourceClass, InventoryState>>>;
  /** Instances holding allocations here. */
  instanceCount: number;
  /** Reported CPU load (1-minute load average per CPU); null when unknown. */
  cpuLoad: number | null;
  reportedAt: string;
}

export interface PlacementRequest {
  instanceId: string;
  attempt: number;
  resources: Resources;
  extraSpecs: Readonly<Record<string, string>>;
  imageProperties: Readonly<Record<string, string>>;
  availabilityZone: string | null;
  serverGroup: { id: string; policy: ServerGroup['policy']; hosts: ReadonlySet<string> } | null;
  excludedHosts: ReadonlySet<string>;
}

/** What may be allocated of one class in total: (total − reserved) × allocation ratio. */
export function capacityOf(inv: InventoryState | undefined): number {
  if (!inv) return 0;
  return Math.max(0, (inv.total - inv.reserved) * inv.allocationRatio);
}

/** What is still free of one class on a host (0 without inventory). */
export function freeOf(host: HostState, rc: ResourceClass): number {
  const inv = host.inventory[rc];
  return inv ? capacityOf(inv) - inv.used : 0;
}

/** Whether `amount` more of a class fits: used + amount ≤ capacity. */
export function fits(inv: InventoryState | undefined, amount: number): boolean {
  if (amount <= 0) return true;
  return !!inv && inv.used + amount <= capacityOf(inv) + 1e-9;
}

/** Resources a flavor needs: vCPUs, RAM, and root + ephemeral + swap disk (swap rounded up to GB). */
export function resourcesOf(flavor: {
  vcpus: number;
  ram_mb: number;
  disk_gb: number;
  ephemeral_gb: number;
  swap_mb: number;
}): Resources {
  return {
    VCPU: flavor.vcpus,
    MEMORY_MB: flavor.ram_mb,
    DISK_GB: flavor.disk_gb + flavor.ephemeral_gb + Math.ceil(flavor.swap_mb / 1024),
  };
}
