/**
 * The host as a resource provider: inventory (from the hypervisor, with configured
 * overrides, reservations and allocation ratios), capabilities and load, published as
 * host.report, plus the heartbeat key in the cache that says the agent is alive.
 */
import type { Cache } from '@strato/cache';
import { heartbeatKey, type Heartbeat, type PayloadOf, type hostReport } from '@strato/contracts';
import type { HypervisorDriver } from '../driver/hypervisor-driver';

export type HostReport = PayloadOf<typeof hostReport>;

export interface ReporterSettings {
  host: string;
  availabilityZone: string;
  hostIp: string;
  /** Override what the hypervisor says (e.g. to give a test host an exact capacity). */
  vcpus?: number | undefined;
  memoryMb?: number | undefined;
  diskGb?: number | undefined;
  reservedCpus: number;
  reservedMemoryMb: number;
  reservedDiskGb: number;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  diskAllocationRatio: number;
  capabilities: Record<string, string>;
  traits: string[];
  /** TTL of the heartbeat key: how long the host counts as alive after its last beat. */
  heartbeatTimeoutS: number;
}

export class HostReporter {
  constructor(
    private readonly deps: {
      settings: ReporterSettings;
      driver: HypervisorDriver;
      cache: Cache;
      publish: (report: HostReport) => Promise<void>;
      runningGuests: () => Promise<number>;
      /** 1-minute load average per CPU. */
      cpuLoad: () => number;
    },
  ) {}

  async build(): Promise<HostReport> {
    const s = this.deps.settings;
    const [inv, running] = await Promise.all([this.deps.driver.inventory(), this.deps.runningGuests()]);
    const vcpus = s.vcpus ?? inv.vcpus;
    const memoryMb = s.memoryMb ?? inv.memoryMb;
    const diskGb = s.diskGb ?? inv.diskGb;
    return {
      host: s.host,
      availability_zone: s.availabilityZone,
      hypervisor_type: inv.hypervisorType,
      hypervisor_version: inv.hypervisorVersion,
      host_ip: s.hostIp,
      architecture: inv.architecture,
      cpu_info: inv.cpuInfo,
      capabilities: { hypervisor_type: inv.hypervisorType, ...s.capabilities },
      traits: s.traits,
      inventory: {
        VCPU: {
          total: vcpus,
          reserved: Math.min(s.reservedCpus, vcpus),
          allocation_ratio: s.cpuAllocationRatio,
        },
        MEMORY_MB: {
          total: memoryMb,
          reserved: Math.min(s.reservedMemoryMb, memoryMb),
          allocation_ratio: s.ramAllocationRatio,
        },
        DISK_GB: {
          total: diskGb,
          reserved: Math.min(s.reservedDiskGb, diskGb),
          allocation_ratio: s.diskAllocationRatio,
        },
      },
      load: { cpu_load: Math.max(0, this.deps.cpuLoad()), running_vms: running },
      reported_at: new Date().toISOString(),
    };
  }

  /** Beats the heartbeat, then publishes the report. */
  async report(): Promise<HostReport> {
    const report = await this.build();
    await this.deps.publish(report);
    const beat: Heartbeat = {
      host: report.host,
      at: report.reported_at,
      cpu_load: report.load.cpu_load,
      running_vms: report.load.running_vms,
    };
    await this.deps.cache.set(
      heartbeatKey(report.host),
      JSON.stringify(beat),
      this.deps.settings.heartbeatTimeoutS,
    );
    return report;
  }
}
