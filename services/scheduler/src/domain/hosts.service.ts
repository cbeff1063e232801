/** Hosts as resource providers: registered from agents' reports, listed and enabled for admins. */
import { AppError } from '@strato/errors';
import type { Logger } from '@strato/log';
import type { HostSummary, PayloadOf, hostReport } from '@strato/contracts';
import type { ProviderReport } from '../store/placement.repository';
import type { HostState } from './model';

export type HostReport = PayloadOf<typeof hostReport>;

export interface ProviderStore {
  applyReport(report: ProviderReport): Promise<'created' | 'updated' | 'stale'>;
  setEnabled(host: string, enabled: boolean, reason: string | null): Promise<boolean>;
  setForcedDown(host: string, forcedDown: boolean): Promise<boolean>;
}

export class HostsService {
  constructor(
    private readonly deps: {
      store: ProviderStore;
      hosts: { hosts(host?: string): Promise<HostState[]> };
      log: Logger;
    },
  ) {}

  async report(report: HostReport): Promise<void> {
    const outcome = await this.deps.store.applyReport({
      host: report.host,
      availabilityZone: report.availability_zone,
      hypervisorType: report.hypervisor_type,
      hypervisorVersion: report.hypervisor_version,
      hostIp: report.host_ip,
      architecture: report.architecture,
      cpuInfo: report.cpu_info,
      capabilities: report.capabilities,
      traits: report.traits,
      inventory: Object.fromEntries(
        Object.entries(report.inventory).map(([rc, inv]) => [
          rc,
          { total: inv.total, reserved: inv.reserved, allocationRatio: inv.allocation_ratio },
        ]),
      ),
      reportedAt: report.reported_at,
    });
    if (outcome === 'created') this.deps.log.info({ host: report.host }, 'compute host registered');
  }

  async list(host: string | null = null): Promise<HostSummary[]> {
    const hosts = await this.deps.hosts.hosts(host ?? undefined);
    return hosts.map(summarize);
  }

  async setEnabled(host: string, enabled: boolean, reason: string | null): Promise<HostSummary> {
    if (!(await this.deps.store.setEnabled(host, enabled, reason))) {
      throw new AppError('NotFound', `Compute host ${host} could not be found.`);
    }
    this.deps.log.info({ host, enabled, reason }, enabled ? 'host enabled' : 'host disabled');
    const [summary] = await this.list(host);
    return summary!;
  }

  async setForcedDown(host: string, forcedDown: boolean): Promise<HostSummary> {
    if (!(await this.deps.store.setForcedDown(host, forcedDown))) {
      throw new AppError('NotFound', `Compute host ${host} could not be found.`);
    }
    this.deps.log.info({ host, forcedDown }, forcedDown ? 'host forced down' : 'host no longer forced down');
    const [summary] = await this.list(host);
    return summary!;
  }
}

export function summarize(h: HostState): HostSummary {
  const inv = (rc: 'VCPU' | 'MEMORY_MB' | 'DISK_GB') => h.inventory[rc];
  const used = (rc: 'VCPU' | 'MEMORY_MB' | 'DISK_GB') => Math.round(inv(rc)?.used ?? 0);
  return {
    id: h.id,
    host: h.host,
    availability_zone: h.availabilityZone,
    state: h.alive ? 'up' : 'down',
    status: h.enabled ? 'enabled' : 'disabled',
    disabled_reason: h.disabledReason,
    forced_down: h.forcedDown,
    heartbeat_fresh: h.heartbeat,
    hypervisor_type: h.hypervisorType,
    hypervisor_version: h.hypervisorVersion,
    host_ip: h.hostIp,
    cpu_info: h.cpuInfo,
    vcpus: inv('VCPU')?.total ?? 0,
    vcpus_used: used('VCPU'),
    memory_mb: inv('MEMORY_MB')?.total ?? 0,
    memory_mb_used: used('MEMORY_MB') + (inv('MEMORY_MB')?.reserved ?? 0),
    local_gb: inv('DISK_GB')?.total ?? 0,
    local_gb_used: used('DISK_GB') + (inv('DISK_GB')?.reserved ?? 0),
    running_vms: h.instanceCount,
    current_workload: 0,
    cpu_load: h.cpuLoad,
    updated_at: h.reportedAt || null,
    inventories: (['VCPU', 'MEMORY_MB', 'DISK_GB'] as const).flatMap((rc) => {
      const i = inv(rc);
      return i
        ? [
            {
              resource_class: rc,
              total: i.total,
              reserved: i.reserved,
              allocation_ratio: i.allocationRatio,
              used: used(rc),
            },
          ]
        : [];
    }),
  };
}
