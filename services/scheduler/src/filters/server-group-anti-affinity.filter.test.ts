import { hostState, placementRequest } from '../testing/fixtures';
import { serverGroupAntiAffinityFilter } from './server-group-anti-affinity.filter';

const group = (policy: 'affinity' | 'anti-affinity', hosts: string[]) =>
  placementRequest({ serverGroup: { id: 'g1', policy, hosts: new Set(hosts) } });

describe('ServerGroupAntiAffinityFilter', () => {
  it('skips hosts that already have a member', () => {
    const request = group('anti-affinity', ['node1']);
    expect(serverGroupAntiAffinityFilter.passes(hostState({ host: 'node1' }), request)).toBe(false);
    expect(serverGroupAntiAffinityFilter.passes(hostState({ host: 'node2' }), request)).toBe(true);
  });
  it('ignores affinity groups and requests without a group', () => {
    expect(serverGroupAntiAffinityFilter.passes(hostState(), group('affinity', ['node1']))).toBe(true);
    expect(serverGroupAntiAffinityFilter.passes(hostState(), placementRequest())).toBe(true);
  });
});
