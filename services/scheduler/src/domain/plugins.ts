/** The two kinds of scheduler plugin (like nova's filters and weighers, Kubernetes' Filter/Score). */
import type { HostState, PlacementRequest } from './model';

/** Pure: true when the host can take the request. */
export interface HostFilter {
  readonly name: string;
  passes(host: HostState, request: PlacementRequest): boolean;
}

/**
 * Pure: a raw score where higher means "more of this" (e.g. more free RAM). The pipeline
 * normalises raw scores across the candidates to [0, 1] and multiplies by the weigher's
 * configured multiplier: positive prefers more (spread), negative prefers less (pack).
 */
export interface HostWeigher {
  readonly name: string;
  weigh(host: HostState, request: PlacementRequest): number;
}

export interface WeigherSetting {
  weigher: HostWeigher;
  multiplier: number;
}
