/** Small real objects for the compute tests: instance state events and instance rows. */
import type { instanceStateChanged, PayloadOf } from '@strato/contracts';
import type { InstanceRow } from '../store';

export type StateChangedEvent = PayloadOf<typeof instanceStateChanged>;

/** An agent's "running on node1, attempt 1" event at 00:00:10, with the given changes. */
export function stateEvent(over: Partial<StateChangedEvent> = {}): StateChangedEvent {
  return {
    instance_id: '11111111-1111-4111-8111-111111111111',
    host: 'node1',
    attempt: 1,
    vm_state: 'active',
    task_state: null,
    power_state: 1,
    fault: null,
    occurred_at: '2026-01-01T00:00:10.000Z',
    ...over,
  };
}

/** A 1-vCPU instance of project p1 still being scheduled, as admission writes it. */
export function instanceRow(id: string, over: Partial<InstanceRow> = {}): Omit<InstanceRow, 'seq'> {
  const created = '2026-01-01T00:00:00.000Z';
  return {
    id,
    projectId: 'p1',
    userId: 'u1',
    name: 'vm',
    description: null,
    hostname: 'vm',
    flavorId: '1',
    vcpus: 1,
    ramMb: 512,
    diskGb: 1,
    flavor: {
      id: '1',
      name: 'f',
      vcpus: 1,
      ramMb: 512,
      diskGb: 1,
      ephemeralGb: 0,
      swapMb: 0,
      extraSpecs: {},
    },
    imageId: 'img',
    keyName: null,
    keyData: null,
    userData: null,
    metadata: {},
    tags: [],
    availabilityZone: null,
    serverGroupId: null,
    host: null,
    vmState: 'building',
    taskState: 'scheduling',
    powerState: 0,
    fault: null,
    attempt: 1,
    lastEventAt: null,
    launchedAt: null,
    terminatedAt: null,
    createdAt: created,
    updatedAt: created,
    deletedAt: null,
    deleted: false,
    locked: false,
    reservationId: 'r-1',
    launchIndex: 0,
    accessIpv4: '',
    accessIpv6: '',
    configDrive: '',
    ...over,
  };
}
