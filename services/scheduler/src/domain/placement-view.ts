/**
 * The hosts as placement sees them between two reads of the store: one snapshot (providers,
 * inventories, allocations, heartbeats) serves every schedule request of the next `maxAgeMs`,
 * and this scheduler's own successful claims are added to it as they happen, so weighers keep
 * spreading (Nova's scheduler keeps its HostState the same way). Reading the store for every
 * request cost four queries and a heartbeat scan per boot.
 *
 * The view only ranks candidates; the claim in the store stays the judge of capacity. A claim
 * the view got wrong (another scheduler's claims, deletes, a disabled host) fails, and the
 * next round asks for a fresh view; "No valid host" is only ever decided on a fresh one.
 */
import type { Heartbeat, ResourceClass } from '@strato/contracts';
import type { HostState, Resources } from './model';

export interface HostReader {
  hosts(): Promise<HostState[]>;
  heartbeats(): Promise<Map<string, Heartbeat>>;
}

export class PlacementView {
  private snapshot: { at: number; hosts: HostState[] } | null = null;
  /** Bumped by invalidate(): a read started before it may miss what made the view wrong. */
  private epoch = 0;
  private loading: { epoch: number; hosts: Promise<HostState[]> } | null = null;
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      reader: HostReader;
      /** How long a snapshot serves; 0 reads the store for every request. */
      maxAgeMs: number;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** The current view: the snapshot while it is young enough, else a fresh one. */
  async hosts(): Promise<HostState[]> {
    const s = this.snapshot;
    if (s && this.now() - s.at < this.deps.maxAgeMs) return s.hosts;
    return this.fresh();
  }

  /**
   * A view read from the store after the last invalidate(); requests asking at the same time
   * share one read.
   */
  fresh(): Promise<HostState[]> {
    if (this.loading && this.loading.epoch === this.epoch) return this.loading.hosts;
    const epoch = this.epoch;
    const at = this.now();
    const load = {
      epoch,
      hosts: this.deps.reader.hosts().then(
        (hosts) => {
          if (this.loading === load) this.loading = null;
          if (epoch === this.epoch) this.snapshot = { at, hosts };
          return hosts;
        },
        (err: unknown) => {
          if (this.loading === load) this.loading = null;
          throw err;
        },
      ),
    };
    this.loading = load;
    return load.hosts;
  }

  heartbeats(): Promise<Map<string, Heartbeat>> {
    return this.deps.reader.heartbeats();
  }

  /**
   * A claim on `host` succeeded: count it in the snapshot. Copy on write, so a pipeline
   * still ranking the previous array sees it unchanged.
   */
  consumed(host: string, resources: Resources): void {
    const s = this.snapshot;
    if (!s) return;
    s.hosts = s.hosts.map((h) => {
      if (h.host !== host) return h;
      const inventory = { ...h.inventory };
      for (const [rc, amount] of Object.entries(resources) as [ResourceClass, number][]) {
        const inv = inventory[rc];
        if (inv && amount > 0) inventory[rc] = { ...inv, used: inv.used + amount };
      }
      return { ...h, inventory, instanceCount: h.instanceCount + 1 };
    });
  }

  /** The snapshot was wrong about something (a claim failed): the next request reads afresh. */
  invalidate(): void {
    this.snapshot = null;
    this.epoch++;
  }
}
