import type { HostFilter } from '../domain/plugins';

/** Only enabled hosts whose agent is alive (fresh heartbeat). */
export const computeFilter: HostFilter = {
  name: 'ComputeFilter',
  passes: (host) => host.enabled && host.alive,
};
