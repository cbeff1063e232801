import type { HostFilter } from '../domain/plugins';

/** Affinity group: once a member is placed, the others go to the same host. */
export const serverGroupAffinityFilter: HostFilter = {
  name: 'ServerGroupAffinityFilter',
  passes: (host, request) => {
    const group = request.serverGroup;
    if (!group || group.policy !== 'affinity' || group.hosts.size === 0) return true;
    return group.hosts.has(host.host);
  },
};
