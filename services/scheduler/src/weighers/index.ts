/** The weighers and their multipliers for a strategy: spread (default) or pack. */
import type { WeigherSetting } from '../domain/plugins';
import { cpuLoadWeigher } from './cpu-load.weigher';
import { instanceCountWeigher } from './instance-count.weigher';
import { ramWeigher } from './ram.weigher';
import { vcpuWeigher } from './vcpu.weigher';

export type Strategy = 'spread' | 'pack';

export interface MultiplierOverrides {
  ram?: number | undefined;
  vcpu?: number | undefined;
  cpuLoad?: number | undefined;
  instanceCount?: number | undefined;
}

const DEFAULTS: Record<Strategy, Required<MultiplierOverrides>> = {
  spread: { ram: 1, vcpu: 1, cpuLoad: -1, instanceCount: -1 },
  pack: { ram: -1, vcpu: -1, cpuLoad: -1, instanceCount: 1 },
};

export function weighersFor(strategy: Strategy, overrides: MultiplierOverrides = {}): WeigherSetting[] {
  const m = DEFAULTS[strategy];
  return [
    { weigher: ramWeigher, multiplier: overrides.ram ?? m.ram },
    { weigher: vcpuWeigher, multiplier: overrides.vcpu ?? m.vcpu },
    { weigher: cpuLoadWeigher, multiplier: overrides.cpuLoad ?? m.cpuLoad },
    { weigher: instanceCountWeigher, multiplier: overrides.instanceCount ?? m.instanceCount },
  ].filter((s) => s.multiplier !== 0);
}
