import type { HostFilter } from '../domain/plugins';
import { fits } from '../domain/model';

/** Enough vCPUs left, counting the CPU allocation ratio. */
export const coreFilter: HostFilter = {
  name: 'CoreFilter',
  passes: (host, request) => fits(host.inventory.VCPU, request.resources.VCPU),
};
