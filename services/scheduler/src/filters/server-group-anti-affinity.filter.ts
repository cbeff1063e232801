import type { HostFilter } from '../domain/plugins';

/** Anti-affinity group: never a host that already has a member. */
export const serverGroupAntiAffinityFilter: HostFilter = {
  name: 'ServerGroupAntiAffinityFilter',
  passes: (host, request) => {
    const group = request.serverGroup;
    if (!group || group.policy !== 'anti-affinity') return true;
    return !group.hosts.has(host.host);
  },
};
