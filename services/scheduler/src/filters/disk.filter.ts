import type { HostFilter } from '../domain/plugins';
import { fits } from '../domain/model';

/** Enough local disk left for root + ephemeral + swap. */
export const diskFilter: HostFilter = {
  name: 'DiskFilter',
  passes: (host, request) => fits(host.inventory.DISK_GB, request.resources.DISK_GB),
};
