/** Events: published on the topic exchange; any service may bind a queue to them. */
import { z } from 'zod';
import { defineMessage } from './contract';
import {
  fault,
  hostName,
  instanceId,
  isoTime,
  powerState,
  resourceClass,
  taskState,
  taskStateV1,
  vmState,
} from './common';

const stateChangedSchema = z.object({
  instance_id: instanceId,
  /** The host the instance is on (null: not placed, e.g. "No valid host was found."). */
  host: hostName.nullable(),
  /** Build attempt the event belongs to (null for events not tied to a build). */
  attempt: z.int().min(1).nullable(),
  vm_state: vmState,
  task_state: taskState.nullable(),
  power_state: powerState,
  /** Set with vm_state 'error'; null otherwise. */
  fault: fault.nullable(),
  /** When the change happened at its source (ISO 8601); order events by it. */
  occurred_at: isoTime,
});

export const instanceStateChanged = defineMessage({
  type: 'instance.state_changed',
  version: 3,
  kind: 'event',
  description:
    "scheduler / compute-agent → api (and scheduler): an instance's vm_state, task_state, power_state or " +
    "fault changed. Apply it only if `attempt` is not older than the instance's current attempt. " +
    'v2 adds the createImage task_states (image_snapshot, image_snapshot_pending, image_pending_upload, ' +
    'image_uploading); v3 the availability_zone of the host, where the sender knows it (agents do), ' +
    "which the api shows as the server's zone.",
  schema: stateChangedSchema.extend({ availability_zone: z.string().min(1).max(255).optional() }),
});

/** Superseded by v3 (no availability_zone; every v2 payload is a valid v3 one); accepted, never sent. */
export const instanceStateChangedV2 = defineMessage({
  type: 'instance.state_changed',
  version: 2,
  kind: 'event',
  description: 'instance.state_changed before availability_zone.',
  schema: stateChangedSchema,
});

/** Superseded by v2 (fewer task_states; every v1 payload is a valid v2 one); accepted, never sent. */
export const instanceStateChangedV1 = defineMessage({
  type: 'instance.state_changed',
  version: 1,
  kind: 'event',
  description: 'instance.state_changed before the createImage task_states.',
  schema: stateChangedSchema.extend({ task_state: taskStateV1.nullable() }),
});

export const instanceBuildFailed = defineMessage({
  type: 'instance.build_failed',
  version: 1,
  kind: 'event',
  description:
    'compute-agent → scheduler: spawning failed on this host and the guest was cleaned up; ' +
    'the scheduler frees the claim and reschedules (or reports the error).',
  schema: z.object({
    instance_id: instanceId,
    host: hostName,
    attempt: z.int().min(1),
    reason: z.string().max(4096),
    occurred_at: isoTime,
  }),
});

const inventoryRecord = z.object({
  total: z.int().min(0),
  reserved: z.int().min(0),
  allocation_ratio: z.number().positive().max(1000),
});

export const hostReport = defineMessage({
  type: 'host.report',
  version: 1,
  kind: 'event',
  description:
    'compute-agent → scheduler, every few seconds: the host as a resource provider (inventory, ' +
    'capabilities, traits) and its load. Liveness itself is the heartbeat key in the cache.',
  schema: z.object({
    host: hostName,
    availability_zone: z.string().min(1).max(255),
    hypervisor_type: z.string().min(1).max(64),
    hypervisor_version: z.int().min(0),
    host_ip: z.string().max(64),
    architecture: z.string().min(1).max(32),
    /** JSON text as os-hypervisors shows it (arch, model, topology). */
    cpu_info: z.string().max(65535),
    /** Free-form capabilities matched by 'capabilities:<key>' extra_specs. */
    capabilities: z.record(z.string().max(255), z.string().max(255)),
    /** Traits matched by 'trait:<NAME>=required|forbidden' extra_specs. */
    traits: z.array(z.string().min(1).max(255)),
    inventory: z.record(resourceClass, inventoryRecord),
    load: z.object({
      /** 1-minute load average divided by CPUs (0 idle, 1 all busy). */
      cpu_load: z.number().min(0),
      running_vms: z.int().min(0),
    }),
    reported_at: isoTime,
  }),
});

export const hostInstances = defineMessage({
  type: 'host.instances',
  version: 1,
  kind: 'event',
  description:
    'compute-agent → api, at agent start: the Strato guests libvirt has on this host and their power ' +
    'state. The api compares with the instances it places on the host and reconciles (missing → error, ' +
    'unexpected → logged/deleted, drift → updated).',
  schema: z.object({
    host: hostName,
    instances: z.array(z.object({ instance_id: instanceId, power_state: powerState })),
    reported_at: isoTime,
  }),
});
