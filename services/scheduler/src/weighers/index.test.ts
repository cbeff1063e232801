import { weighersFor } from './index';

const multipliers = (settings: ReturnType<typeof weighersFor>) =>
  Object.fromEntries(settings.map((s) => [s.weigher.name, s.multiplier]));

describe('weighersFor', () => {
  it('spreads by default: free RAM and vCPU up, load and instance count down', () => {
    expect(multipliers(weighersFor('spread'))).toEqual({
      RAMWeigher: 1,
      VCPUWeigher: 1,
      CPULoadWeigher: -1,
      InstanceCountWeigher: -1,
    });
  });
  it('packs by inverting the capacity weighers', () => {
    expect(multipliers(weighersFor('pack'))).toMatchObject({
      RAMWeigher: -1,
      VCPUWeigher: -1,
      InstanceCountWeigher: 1,
    });
  });
  it('takes configured multipliers over the strategy and drops zero ones', () => {
    expect(multipliers(weighersFor('spread', { ram: 3, cpuLoad: 0 }))).toEqual({
      RAMWeigher: 3,
      VCPUWeigher: 1,
      InstanceCountWeigher: -1,
    });
  });
});
