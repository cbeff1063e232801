import { hostState, placementRequest } from '../testing/fixtures';
import { diskFilter } from './disk.filter';

const withDisk = (total: number, used: number) =>
  hostState({
    inventory: { ...hostState().inventory, DISK_GB: { total, used, reserved: 0, allocationRatio: 1 } },
  });
const wants = (gb: number) => placementRequest({ resources: { VCPU: 1, MEMORY_MB: 1, DISK_GB: gb } });

describe('DiskFilter', () => {
  it('passes when the disk fits', () => {
    expect(diskFilter.passes(withDisk(20, 10), wants(10))).toBe(true);
  });
  it('skips a host without enough disk', () => {
    expect(diskFilter.passes(withDisk(20, 11), wants(10))).toBe(false);
  });
  it('passes a diskless flavor even on a host without disk inventory', () => {
    expect(diskFilter.passes(hostState({ inventory: {} }), wants(0))).toBe(true);
  });
});
