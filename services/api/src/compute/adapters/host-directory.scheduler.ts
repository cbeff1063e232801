/**
 * HostDirectory through the scheduler's RPCs (scheduler.list_hosts, scheduler.set_host_enabled,
 * scheduler.set_host_forced_down),
 * with a short-lived copy of the host list for per-server fields such as host_status.
 */
import type { Bus } from '@strato/bus';
import { SchedulerClient, type HostSummary } from '@strato/contracts';
import type { HostDirectory } from '../domain/ports';

export class SchedulerHostDirectory implements HostDirectory {
  private readonly client: SchedulerClient;

  constructor(
    bus: Bus,
    private readonly timeoutMs = 5000,
  ) {
    this.client = new SchedulerClient(bus);
  }

  async list(host: string | null = null): Promise<HostSummary[]> {
    // The contract's reply type is widened by its optional `reply`; the bus validated it already.
    const reply = await this.client.listHosts(host, { timeoutMs: this.timeoutMs });
    return reply.hosts;
  }

  async setEnabled(host: string, enabled: boolean, reason: string | null): Promise<HostSummary> {
    return await this.client.setHostEnabled(
      { host, enabled, disabled_reason: enabled ? null : reason },
      { timeoutMs: this.timeoutMs },
    );
  }

  async setForcedDown(host: string, forcedDown: boolean): Promise<HostSummary> {
    return await this.client.setHostForcedDown(
      { host, forced_down: forcedDown },
      { timeoutMs: this.timeoutMs },
    );
  }
}

/** Keeps the full host list for ttlMs; failures are not cached. */
export class CachedHostList {
  private cached: { at: number; hosts: Promise<HostSummary[]> } | null = null;

  constructor(
    private readonly directory: HostDirectory,
    private readonly ttlMs = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  hosts(): Promise<HostSummary[]> {
    const t = this.now();
    if (this.cached && t - this.cached.at < this.ttlMs) return this.cached.hosts;
    const hosts = this.directory.list(null);
    this.cached = { at: t, hosts };
    hosts.catch(() => {
      if (this.cached?.hosts === hosts) this.cached = null;
    });
    return hosts;
  }
}
