import type { HostWeigher } from '../domain/plugins';

/** Reported CPU load; with the usual negative multiplier, idle hosts win. Unknown load counts as 0. */
export const cpuLoadWeigher: HostWeigher = {
  name: 'CPULoadWeigher',
  weigh: (host) => host.cpuLoad ?? 0,
};
