/**
 * Small valid payloads for tests of every service that speaks these contracts, so each test
 * states only what it cares about (as overrides) and none drifts from the schemas.
 */
import { randomUUID } from 'node:crypto';
import type { Flavor, Image, InstanceSpec } from './common';
import type { PayloadOf } from './contract';
import type { scheduleInstance } from './scheduler.messages';

export function sampleFlavor(overrides: Partial<Flavor> = {}): Flavor {
  return {
    id: 'f1',
    name: 'm1.tiny',
    vcpus: 1,
    ram_mb: 512,
    disk_gb: 1,
    ephemeral_gb: 0,
    swap_mb: 0,
    extra_specs: {},
    ...overrides,
  };
}

export function sampleImage(overrides: Partial<Image> = {}): Image {
  return {
    id: 'img1',
    name: 'cirros',
    disk_format: 'qcow2',
    container_format: 'bare',
    size: null,
    checksum: null,
    min_ram_mb: 0,
    min_disk_gb: 0,
    properties: {},
    ...overrides,
  };
}

export function sampleInstanceSpec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    instance_id: randomUUID(),
    project_id: 'p1',
    user_id: 'u1',
    display_name: 'vm1',
    flavor: sampleFlavor(),
    image: sampleImage(),
    metadata: {},
    user_data: null,
    key_data: null,
    key_name: null,
    ...overrides,
  };
}

export function sampleScheduleRequest(
  overrides: Partial<PayloadOf<typeof scheduleInstance>> = {},
): PayloadOf<typeof scheduleInstance> {
  return {
    ...sampleInstanceSpec(),
    availability_zone: null,
    server_group: null,
    attempt: 1,
    excluded_hosts: [],
    ...overrides,
  };
}
