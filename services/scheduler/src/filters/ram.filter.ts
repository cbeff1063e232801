import type { HostFilter } from '../domain/plugins';
import { fits } from '../domain/model';

/** Enough RAM left: used + flavor RAM ≤ (total − reserved) × ratio. */
export const ramFilter: HostFilter = {
  name: 'RamFilter',
  passes: (host, request) => fits(host.inventory.MEMORY_MB, request.resources.MEMORY_MB),
};
