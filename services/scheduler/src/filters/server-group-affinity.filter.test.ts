import { hostState, placementRequest } from '../testing/fixtures';
import { serverGroupAffinityFilter } from './server-group-affinity.filter';

const group = (policy: 'affinity' | 'anti-affinity', hosts: string[]) =>
  placementRequest({ serverGroup: { id: 'g1', policy, hosts: new Set(hosts) } });

describe('ServerGroupAffinityFilter', () => {
  it('lets the first member go anywhere', () => {
    expect(serverGroupAffinityFilter.passes(hostState({ host: 'node2' }), group('affinity', []))).toBe(true);
  });
  it('keeps later members on the host of the first', () => {
    const request = group('affinity', ['node1']);
    expect(serverGroupAffinityFilter.passes(hostState({ host: 'node1' }), request)).toBe(true);
    expect(serverGroupAffinityFilter.passes(hostState({ host: 'node2' }), request)).toBe(false);
  });
  it('ignores anti-affinity groups', () => {
    expect(
      serverGroupAffinityFilter.passes(hostState({ host: 'node1' }), group('anti-affinity', ['node1'])),
    ).toBe(true);
  });
});
