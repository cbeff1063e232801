/**
 * Quota arithmetic as Nova counts it: limits per project (-1 = unlimited) against what the
 * project uses now. A multi-create gets as many instances as fit, never fewer than min_count.
 */
import { AppError } from '@strato/errors';

export const QUOTA_RESOURCES = [
  'instances',
  'cores',
  'ram',
  'metadata_items',
  'key_pairs',
  'server_groups',
  'server_group_members',
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  // Shown and settable before 2.36, as in Nova, and counted by nothing: the network quotas
  // of nova-network, which neither Nova nor Strato has any more.
  'fixed_ips',
  'floating_ips',
  'security_groups',
  'security_group_rules',
] as const;

/** The quotas Nova stopped showing (and setting) in 2.36 (network) and in 2.57 (injected files). */
const QUOTAS_GONE_IN_236: readonly QuotaResource[] = [
  'fixed_ips',
  'floating_ips',
  'security_groups',
  'security_group_rules',
];
const QUOTAS_GONE_IN_257: readonly QuotaResource[] = [
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
];

/** The quotas a microversion (minor of 2.x) shows and sets, in name order as Nova lists them. */
export function quotasAt(minor: number): QuotaResource[] {
  return QUOTA_RESOURCES.filter(
    (r) =>
      !(minor >= 36 && QUOTAS_GONE_IN_236.includes(r)) && !(minor >= 57 && QUOTAS_GONE_IN_257.includes(r)),
  ).sort();
}
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];
export type QuotaLimits = Record<QuotaResource, number>;

/** Nova's defaults. */
export const NOVA_DEFAULT_QUOTAS: QuotaLimits = {
  instances: 10,
  cores: 20,
  ram: 51200,
  metadata_items: 128,
  key_pairs: 100,
  server_groups: 10,
  server_group_members: 10,
  injected_files: 5,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  fixed_ips: -1,
  floating_ips: -1,
  security_groups: -1,
  security_group_rules: -1,
};

export function isQuotaResource(name: string): name is QuotaResource {
  return (QUOTA_RESOURCES as readonly string[]).includes(name);
}

/** How much more of a resource fits (Infinity when unlimited, never negative). */
export function headroom(limit: number, used: number): number {
  return limit < 0 ? Infinity : Math.max(0, limit - used);
}

export interface InstanceUsage {
  instances: number;
  cores: number;
  ram: number;
}

export function quotaExceeded(resource: string, requested: number, used: number, allowed: number): AppError {
  return new AppError(
    'QuotaExceeded',
    `Quota exceeded for ${resource}: Requested ${requested}, but already used ${used} of ${allowed} ${resource}`,
  );
}

/**
 * How many instances of this flavor to create: up to maxCount, as many as the instances,
 * cores and ram quotas allow; QuotaExceeded (403, Nova's message) when fewer than minCount fit.
 */
export function instancesAllowed(
  limits: Pick<QuotaLimits, 'instances' | 'cores' | 'ram'>,
  usage: InstanceUsage,
  flavor: { vcpus: number; ramMb: number },
  minCount: number,
  maxCount: number,
): number {
  const per: Record<keyof InstanceUsage, number> = { instances: 1, cores: flavor.vcpus, ram: flavor.ramMb };
  let count = maxCount;
  for (const resource of ['instances', 'cores', 'ram'] as const) {
    const fits = Math.floor(headroom(limits[resource], usage[resource]) / per[resource]);
    if (fits < minCount) {
      throw quotaExceeded(resource, maxCount * per[resource], usage[resource], limits[resource]);
    }
    count = Math.min(count, fits);
  }
  return count;
}

/** Throws QuotaExceeded when adding `delta` to `used` would pass the limit. */
export function assertWithin(resource: QuotaResource, limit: number, used: number, delta: number): void {
  if (delta > headroom(limit, used)) throw quotaExceeded(resource, delta, used, limit);
}
