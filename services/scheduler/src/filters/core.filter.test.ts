import { hostState, placementRequest } from '../testing/fixtures';
import { coreFilter } from './core.filter';

const withCpus = (total: number, used: number, ratio = 1) =>
  hostState({
    inventory: { ...hostState().inventory, VCPU: { total, used, reserved: 0, allocationRatio: ratio } },
  });
const wants = (vcpus: number) => placementRequest({ resources: { VCPU: vcpus, MEMORY_MB: 1, DISK_GB: 0 } });

describe('CoreFilter', () => {
  it('passes while vCPUs are left', () => {
    expect(coreFilter.passes(withCpus(4, 2), wants(2))).toBe(true);
  });
  it('skips a host whose vCPUs are used up', () => {
    expect(coreFilter.passes(withCpus(4, 3), wants(2))).toBe(false);
  });
  it('overcommits by the CPU allocation ratio', () => {
    expect(coreFilter.passes(withCpus(4, 60, 16), wants(4))).toBe(true);
    expect(coreFilter.passes(withCpus(4, 61, 16), wants(4))).toBe(false);
  });
});
