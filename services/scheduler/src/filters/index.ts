/** Every filter by name; SCHEDULER_FILTERS picks and orders them. */
import type { HostFilter } from '../domain/plugins';
import { availabilityZoneFilter } from './availability-zone.filter';
import { computeFilter } from './compute.filter';
import { coreFilter } from './core.filter';
import { diskFilter } from './disk.filter';
import { extraSpecsFilter } from './extra-specs.filter';
import { imagePropertiesFilter } from './image-properties.filter';
import { ramFilter } from './ram.filter';
import { retryFilter } from './retry.filter';
import { serverGroupAffinityFilter } from './server-group-affinity.filter';
import { serverGroupAntiAffinityFilter } from './server-group-anti-affinity.filter';

export const FILTERS: Readonly<Record<string, HostFilter>> = Object.fromEntries(
  [
    retryFilter,
    computeFilter,
    availabilityZoneFilter,
    ramFilter,
    coreFilter,
    diskFilter,
    extraSpecsFilter,
    imagePropertiesFilter,
    serverGroupAffinityFilter,
    serverGroupAntiAffinityFilter,
  ].map((f) => [f.name, f]),
);

/** The default order: cheap and most selective first. */
export const DEFAULT_FILTERS = [
  'RetryFilter',
  'ComputeFilter',
  'AvailabilityZoneFilter',
  'RamFilter',
  'CoreFilter',
  'DiskFilter',
  'ExtraSpecsFilter',
  'ImagePropertiesFilter',
  'ServerGroupAffinityFilter',
  'ServerGroupAntiAffinityFilter',
] as const;

export function filtersByName(names: readonly string[]): HostFilter[] {
  return names.map((name) => {
    const filter = FILTERS[name];
    if (!filter)
      throw new Error(`unknown scheduler filter '${name}' (known: ${Object.keys(FILTERS).join(', ')})`);
    return filter;
  });
}
