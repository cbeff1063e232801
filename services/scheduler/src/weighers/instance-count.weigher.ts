import type { HostWeigher } from '../domain/plugins';

/** Instances on the host; a negative multiplier spreads, a positive one packs. */
export const instanceCountWeigher: HostWeigher = {
  name: 'InstanceCountWeigher',
  weigh: (host) => host.instanceCount,
};
