import { hostState, placementRequest } from '../testing/fixtures';
import { cpuLoadWeigher } from './cpu-load.weigher';

describe('CPULoadWeigher', () => {
  it('scores the reported load, unknown as 0', () => {
    expect(cpuLoadWeigher.weigh(hostState({ cpuLoad: 0.75 }), placementRequest())).toBe(0.75);
    expect(cpuLoadWeigher.weigh(hostState({ cpuLoad: null }), placementRequest())).toBe(0);
  });
});
