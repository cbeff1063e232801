/**
 * Filter, then weigh: the pure heart of scheduling. Each filter's effect is recorded, so a
 * "No valid host" always comes with the filter that removed the last candidates.
 */
import type { HostState, PlacementRequest } from './model';
import type { HostFilter, WeigherSetting } from './plugins';

export interface FilterStep {
  filter: string;
  before: number;
  removed: number;
}

export interface WeighedHost {
  host: HostState;
  weight: number;
}

export interface PipelineResult {
  /** Passing hosts, best first. */
  ranked: WeighedHost[];
  steps: FilterStep[];
}

export function runFilters(
  hosts: readonly HostState[],
  request: PlacementRequest,
  filters: readonly HostFilter[],
): { passed: HostState[]; steps: FilterStep[] } {
  let current = [...hosts];
  const steps: FilterStep[] = [];
  for (const filter of filters) {
    const before = current.length;
    current = current.filter((h) => filter.passes(h, request));
    steps.push({ filter: filter.name, before, removed: before - current.length });
    if (current.length === 0) break;
  }
  return { passed: current, steps };
}

/** Min-max normalisation to [0, 1]; all-equal values weigh 0 (as nova's weights.normalize). */
export function normalize(values: readonly number[]): number[] {
  if (values.length === 0) return [];
  const min = Math.min(...values);
  const max = Math.max(...values);
  if (max === min) return values.map(() => 0);
  return values.map((v) => (v - min) / (max - min));
}

export function weighHosts(
  hosts: readonly HostState[],
  request: PlacementRequest,
  settings: readonly WeigherSetting[],
): WeighedHost[] {
  const totals = hosts.map(() => 0);
  for (const { weigher, multiplier } of settings) {
    const scores = normalize(hosts.map((h) => weigher.weigh(h, request)));
    scores.forEach((s, i) => (totals[i]! += s * multiplier));
  }
  return hosts
    .map((host, i) => ({ host, weight: totals[i]! }))
    .sort((a, b) => b.weight - a.weight || a.host.host.localeCompare(b.host.host));
}

export function runPipeline(
  hosts: readonly HostState[],
  request: PlacementRequest,
  filters: readonly HostFilter[],
  weighers: readonly WeigherSetting[],
): PipelineResult {
  const { passed, steps } = runFilters(hosts, request, filters);
  return { ranked: weighHosts(passed, request, weighers), steps };
}

/** "RamFilter removed 3 of 4, CoreFilter removed 1 of 1" (only filters that removed any). */
export function describeSteps(steps: readonly FilterStep[]): string {
  const acting = steps.filter((s) => s.removed > 0);
  if (acting.length === 0) return 'no filter removed any host';
  return acting.map((s) => `${s.filter} removed ${s.removed} of ${s.before}`).join(', ');
}
