import { hostState, placementRequest } from '../testing/fixtures';
import { computeFilter } from './compute.filter';

describe('ComputeFilter', () => {
  it('passes an enabled host with a fresh heartbeat', () => {
    expect(computeFilter.passes(hostState(), placementRequest())).toBe(true);
  });
  it('skips hosts whose heartbeat is older than the timeout', () => {
    expect(computeFilter.passes(hostState({ alive: false }), placementRequest())).toBe(false);
  });
  it('skips disabled hosts', () => {
    expect(computeFilter.passes(hostState({ enabled: false }), placementRequest())).toBe(false);
  });
});
