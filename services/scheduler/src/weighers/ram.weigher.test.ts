import { hostState, placementRequest } from '../testing/fixtures';
import { ramWeigher } from './ram.weigher';

describe('RAMWeigher', () => {
  it('scores free RAM: capacity minus used', () => {
    const host = hostState({
      inventory: { MEMORY_MB: { total: 4096, reserved: 512, allocationRatio: 1.5, used: 1000 } },
    });
    expect(ramWeigher.weigh(host, placementRequest())).toBe((4096 - 512) * 1.5 - 1000);
  });
});
