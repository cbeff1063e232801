import { hostState, placementRequest } from '../testing/fixtures';
import { FILTERS, filtersByName } from '../filters';
import { weighersFor } from '../weighers';
import { describeSteps, normalize, runPipeline } from './pipeline';

const withRamUsed = (host: string, used: number, instanceCount = 0) =>
  hostState({
    host,
    instanceCount,
    inventory: {
      ...hostState().inventory,
      MEMORY_MB: { total: 8192, reserved: 0, allocationRatio: 1, used },
    },
  });

describe('scheduling pipeline', () => {
  const filters = filtersByName(['ComputeFilter', 'RamFilter']);

  it('records how many hosts each filter removed', () => {
    const hosts = [
      hostState({ host: 'dead', alive: false }),
      withRamUsed('full', 8000),
      withRamUsed('ok', 0),
    ];
    const { ranked, steps } = runPipeline(hosts, placementRequest(), filters, []);
    expect(ranked.map((r) => r.host.host)).toEqual(['ok']);
    expect(steps).toEqual([
      { filter: 'ComputeFilter', before: 3, removed: 1 },
      { filter: 'RamFilter', before: 2, removed: 1 },
    ]);
    expect(describeSteps(steps)).toBe('ComputeFilter removed 1 of 3, RamFilter removed 1 of 2');
  });

  it('stops filtering once no host is left, naming the filter that removed the last', () => {
    const { ranked, steps } = runPipeline([hostState({ alive: false })], placementRequest(), filters, []);
    expect(ranked).toEqual([]);
    expect(describeSteps(steps)).toBe('ComputeFilter removed 1 of 1');
  });

  it('spreads: the emptiest host comes first', () => {
    const hosts = [withRamUsed('busy', 6000, 6), withRamUsed('idle', 0, 0), withRamUsed('half', 3000, 3)];
    const { ranked } = runPipeline(hosts, placementRequest(), filters, weighersFor('spread'));
    expect(ranked.map((r) => r.host.host)).toEqual(['idle', 'half', 'busy']);
  });

  it('packs: the fullest host that still fits comes first', () => {
    const hosts = [withRamUsed('busy', 6000, 6), withRamUsed('idle', 0, 0), withRamUsed('half', 3000, 3)];
    const { ranked } = runPipeline(hosts, placementRequest(), filters, weighersFor('pack'));
    expect(ranked.map((r) => r.host.host)).toEqual(['busy', 'half', 'idle']);
  });

  it('normalises raw scores to [0, 1], equal scores to 0', () => {
    expect(normalize([10, 20, 15])).toEqual([0, 1, 0.5]);
    expect(normalize([3, 3])).toEqual([0, 0]);
  });

  it('knows every filter the issue asks for', () => {
    expect(Object.keys(FILTERS)).toEqual(
      expect.arrayContaining([
        'ComputeFilter',
        'RamFilter',
        'CoreFilter',
        'DiskFilter',
        'AvailabilityZoneFilter',
        'ExtraSpecsFilter',
        'ServerGroupAffinityFilter',
        'ServerGroupAntiAffinityFilter',
        'ImagePropertiesFilter',
      ]),
    );
    expect(() => filtersByName(['NoSuchFilter'])).toThrow("unknown scheduler filter 'NoSuchFilter'");
  });
});
