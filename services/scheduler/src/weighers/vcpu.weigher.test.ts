import { hostState, placementRequest } from '../testing/fixtures';
import { vcpuWeigher } from './vcpu.weigher';

describe('VCPUWeigher', () => {
  it('scores free vCPUs', () => {
    const host = hostState({ inventory: { VCPU: { total: 8, reserved: 0, allocationRatio: 2, used: 5 } } });
    expect(vcpuWeigher.weigh(host, placementRequest())).toBe(11);
  });
});
