/** Builds HostStates from the providers in the store and the heartbeats in the cache. */
import type { Cache } from '@strato/cache';
import { HEARTBEAT_KEY_PREFIX, parseHeartbeat, type Heartbeat } from '@strato/contracts';
import type { ProviderSnapshot } from '../store/placement.repository';
import type { HostState } from './model';

export interface ProviderSource {
  snapshot(host?: string): Promise<ProviderSnapshot[]>;
}

export class HostStateReader {
  constructor(
    private readonly deps: {
      providers: ProviderSource;
      cache: Cache;
    },
  ) {}

  /** Heartbeats of live hosts, by host name. */
  async heartbeats(): Promise<Map<string, Heartbeat>> {
    const keys = await this.deps.cache.keys(HEARTBEAT_KEY_PREFIX);
    const values = await Promise.all(keys.map((k) => this.deps.cache.get(k)));
    const beats = new Map<string, Heartbeat>();
    keys.forEach((key, i) => {
      const beat = parseHeartbeat(values[i] ?? null);
      if (beat && key === `${HEARTBEAT_KEY_PREFIX}${beat.host}`) beats.set(beat.host, beat);
    });
    return beats;
  }

  async hosts(host?: string): Promise<HostState[]> {
    const [providers, beats] = await Promise.all([this.deps.providers.snapshot(host), this.heartbeats()]);
    return providers.map((p) => toHostState(p, beats.get(p.row.host)));
  }
}

function parse<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function toHostState(p: ProviderSnapshot, beat: Heartbeat | undefined): HostState {
  return {
    id: p.row.id,
    host: p.row.host,
    availabilityZone: p.row.availability_zone,
    enabled: p.row.enabled,
    disabledReason: p.row.disabled_reason,
    forcedDown: p.row.forced_down,
    alive: beat !== undefined && !p.row.forced_down,
    heartbeat: beat !== undefined,
    hypervisorType: p.row.hypervisor_type,
    hypervisorVersion: p.row.hypervisor_version,
    hostIp: p.row.host_ip,
    architecture: p.row.architecture,
    cpuInfo: p.row.cpu_info,
    capabilities: parse<Record<string, string>>(p.row.capabilities, {}),
    traits: parse<string[]>(p.row.traits, []),
    inventory: p.inventory,
    instanceCount: p.instanceCount,
    cpuLoad: beat?.cpu_load ?? null,
    reportedAt: p.row.reported_at,
  };
}
