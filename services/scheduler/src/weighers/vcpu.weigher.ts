import type { HostWeigher } from '../domain/plugins';
import { freeOf } from '../domain/model';

/** Free vCPUs: positive multiplier spreads, negative packs. */
export const vcpuWeigher: HostWeigher = {
  name: 'VCPUWeigher',
  weigh: (host) => freeOf(host, 'VCPU'),
};
