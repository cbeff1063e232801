import { hostState, placementRequest } from '../testing/fixtures';
import { ramFilter } from './ram.filter';

const withRam = (total: number, used: number, reserved = 0, ratio = 1) =>
  hostState({
    inventory: { ...hostState().inventory, MEMORY_MB: { total, used, reserved, allocationRatio: ratio } },
  });
const wants = (mb: number) => placementRequest({ resources: { VCPU: 1, MEMORY_MB: mb, DISK_GB: 0 } });

describe('RamFilter', () => {
  it('passes when the flavor fits exactly', () => {
    expect(ramFilter.passes(withRam(2048, 1024), wants(1024))).toBe(true);
  });
  it('skips a host with one MB too few', () => {
    expect(ramFilter.passes(withRam(2048, 1025), wants(1024))).toBe(false);
  });
  it('keeps reserved memory for the host', () => {
    expect(ramFilter.passes(withRam(2048, 0, 1536), wants(1024))).toBe(false);
  });
  it('counts the allocation ratio (overcommit)', () => {
    expect(ramFilter.passes(withRam(1024, 1024, 0, 1.5), wants(512))).toBe(true);
  });
  it('skips a host without memory inventory', () => {
    expect(ramFilter.passes(hostState({ inventory: {} }), wants(1))).toBe(false);
  });
});
