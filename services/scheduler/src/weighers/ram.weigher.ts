import type { HostWeigher } from '../domain/plugins';
import { freeOf } from '../domain/model';

/** Free RAM (MB): positive multiplier spreads, negative packs. */
export const ramWeigher: HostWeigher = {
  name: 'RAMWeigher',
  weigh: (host) => freeOf(host, 'MEMORY_MB'),
};
