/** Small real objects for the scheduler's tests. */
import { randomUUID } from 'node:crypto';
import { sampleFlavor, sampleImage, sampleScheduleRequest } from '@strato/contracts';
import type { HostState, PlacementRequest } from '../domain/model';
import type { ScheduleRequest } from '../domain/placement.service';

export function hostState(overrides: Partial<HostState> & { host?: string } = {}): HostState {
  return {
    id: 1,
    host: 'node1',
    availabilityZone: 'nova',
    enabled: true,
    disabledReason: null,
    forcedDown: false,
    alive: true,
    heartbeat: true,
    hypervisorType: 'QEMU',
    hypervisorVersion: 7002000,
    hostIp: '10.0.0.1',
    architecture: 'x86_64',
    cpuInfo: '{}',
    capabilities: {},
    traits: [],
    inventory: {
      VCPU: { total: 8, reserved: 0, allocationRatio: 1, used: 0 },
      MEMORY_MB: { total: 16384, reserved: 0, allocationRatio: 1, used: 0 },
      DISK_GB: { total: 100, reserved: 0, allocationRatio: 1, used: 0 },
    },
    instanceCount: 0,
    cpuLoad: 0,
    reportedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function placementRequest(overrides: Partial<PlacementRequest> = {}): PlacementRequest {
  return {
    instanceId: randomUUID(),
    attempt: 1,
    resources: { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 },
    extraSpecs: {},
    imageProperties: {},
    availabilityZone: null,
    serverGroup: null,
    excludedHosts: new Set(),
    ...overrides,
  };
}

export function scheduleRequest(overrides: Partial<ScheduleRequest> = {}): ScheduleRequest {
  return sampleScheduleRequest({
    project_id: 'project-1',
    user_id: 'user-1',
    display_name: 'vm',
    flavor: sampleFlavor({ name: 'm1.small' }),
    image: sampleImage({ id: 'image-1' }),
    ...overrides,
  });
}

/** A host report payload for `host` with the given capacity. */
export function hostReportFor(
  host: string,
  capacity: { vcpus?: number; ramMb?: number; diskGb?: number; az?: string } = {},
) {
  return {
    host,
    availability_zone: capacity.az ?? 'nova',
    hypervisor_type: 'QEMU',
    hypervisor_version: 7002000,
    host_ip: '127.0.0.1',
    architecture: 'x86_64',
    cpu_info: '{"arch": "x86_64"}',
    capabilities: {},
    traits: [],
    inventory: {
      VCPU: { total: capacity.vcpus ?? 8, reserved: 0, allocation_ratio: 1 },
      MEMORY_MB: { total: capacity.ramMb ?? 8192, reserved: 0, allocation_ratio: 1 },
      DISK_GB: { total: capacity.diskGb ?? 100, reserved: 0, allocation_ratio: 1 },
    },
    load: { cpu_load: 0, running_vms: 0 },
    reported_at: new Date().toISOString(),
  };
}
