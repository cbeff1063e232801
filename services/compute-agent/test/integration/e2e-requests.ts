import { randomUUID } from 'node:crypto';
import type { PayloadOf, scheduleInstance } from '@strato/contracts';

export type ScheduleRequest = PayloadOf<typeof scheduleInstance>;

export function scheduleRequest(overrides: Partial<ScheduleRequest> = {}): ScheduleRequest {
  return {
    instance_id: randomUUID(),
    project_id: 'project-1',
    user_id: 'user-1',
    display_name: `<web & "db"> ]]>`,
    flavor: {
      id: 'f1',
      name: 'm1.tiny',
      vcpus: 1,
      ram_mb: 512,
      disk_gb: 1,
      ephemeral_gb: 0,
      swap_mb: 0,
      extra_specs: {},
    },
    image: {
      id: 'image-1',
      name: 'cirros',
      disk_format: 'qcow2',
      container_format: 'bare',
      size: null,
      checksum: null,
      min_ram_mb: 0,
      min_disk_gb: 0,
      properties: {},
    },
    metadata: {},
    user_data: null,
    key_data: null,
    availability_zone: null,
    server_group: null,
    attempt: 1,
    excluded_hosts: [],
    ...overrides,
  };
}
