import { hostState, placementRequest } from '../testing/fixtures';
import { retryFilter } from './retry.filter';

describe('RetryFilter', () => {
  it('skips hosts where an earlier attempt failed', () => {
    const request = placementRequest({ excludedHosts: new Set(['node1']) });
    expect(retryFilter.passes(hostState({ host: 'node1' }), request)).toBe(false);
    expect(retryFilter.passes(hostState({ host: 'node2' }), request)).toBe(true);
  });
});
