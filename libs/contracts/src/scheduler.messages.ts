/** Messages the scheduler receives: schedule, release, and the admin RPCs for hypervisors. */
import { z } from 'zod';
import { defineMessage } from './contract';
import { hostName, instanceId, instanceSpec, instanceSpecV1, resourceClass, serverGroup } from './common';

const scheduleFields = {
  availability_zone: z.string().min(1).max(255).nullable(),
  server_group: serverGroup.nullable(),
  /** 1 for the first try; each reschedule adds one. */
  attempt: z.int().min(1),
  /** Hosts not to try again (those where earlier attempts failed). */
  excluded_hosts: z.array(hostName),
};

export const scheduleInstance = defineMessage({
  type: 'scheduler.schedule_instance',
  version: 2,
  kind: 'cast',
  description:
    'api → scheduler: find a host for the instance, claim its resources and send the build to that host. ' +
    'Sent by the api once per new instance (attempt 1); the scheduler re-sends it to itself to reschedule. ' +
    'v2 adds key_name to the instance spec.',
  schema: instanceSpec.extend(scheduleFields),
});

/** Superseded by v2 (no key_name); still accepted by the scheduler, never sent. */
export const scheduleInstanceV1 = defineMessage({
  type: 'scheduler.schedule_instance',
  version: 1,
  kind: 'cast',
  description: 'scheduler.schedule_instance before key_name: read as v2 with key_name null.',
  schema: instanceSpecV1.extend(scheduleFields),
});

export const releaseClaim = defineMessage({
  type: 'scheduler.release_claim',
  version: 1,
  kind: 'cast',
  description:
    'api → scheduler: the instance is deleted; free its allocations and drop any scheduling still under way. ' +
    'Idempotent; also safe before the schedule request was handled.',
  schema: z.object({ instance_id: instanceId }),
});

/** One hypervisor as os-hypervisors and os-services show it (v1 replies: no forced_down). */
export const hostSummaryV1 = z.object({
  /** Stable integer id (os-hypervisors id). */
  id: z.int().min(1),
  host: hostName,
  availability_zone: z.string(),
  state: z.enum(['up', 'down']),
  status: z.enum(['enabled', 'disabled']),
  disabled_reason: z.string().nullable(),
  hypervisor_type: z.string(),
  hypervisor_version: z.int().min(0),
  host_ip: z.string(),
  cpu_info: z.string(),
  vcpus: z.int().min(0),
  vcpus_used: z.int().min(0),
  memory_mb: z.int().min(0),
  memory_mb_used: z.int().min(0),
  local_gb: z.int().min(0),
  local_gb_used: z.int().min(0),
  running_vms: z.int().min(0),
  current_workload: z.int().min(0),
  /** Reported CPU load (0..1 per CPU, may exceed 1), null before the first report. */
  cpu_load: z.number().min(0).nullable(),
  /** Last time the agent reported (ISO 8601), null when never. */
  updated_at: z.string().nullable(),
  inventories: z.array(
    z.object({
      resource_class: resourceClass,
      total: z.int().min(0),
      reserved: z.int().min(0),
      allocation_ratio: z.number().positive(),
      used: z.int().min(0),
    }),
  ),
});
/**
 * One hypervisor, with forced_down (an admin's word that it is down: `state` is then 'down'
 * whatever its heartbeat says) and heartbeat_fresh (whether its agent heartbeats, forced down
 * or not: a deletion still reaches a live agent).
 */
export const hostSummary = hostSummaryV1.extend({ forced_down: z.boolean(), heartbeat_fresh: z.boolean() });
export type HostSummary = z.infer<typeof hostSummary>;

export const listHosts = defineMessage({
  type: 'scheduler.list_hosts',
  version: 2,
  kind: 'rpc',
  description:
    'api → scheduler (RPC): every compute host with capacity, usage and up/down state. v2 adds forced_down.',
  schema: z.object({ host: hostName.nullable() }),
  reply: z.object({ hosts: z.array(hostSummary) }),
});

/** Superseded by v2 (no forced_down in the reply); still answered by the scheduler, never sent. */
export const listHostsV1 = defineMessage({
  type: 'scheduler.list_hosts',
  version: 1,
  kind: 'rpc',
  description: 'api → scheduler (RPC): every compute host with capacity, usage and up/down state.',
  schema: z.object({ host: hostName.nullable() }),
  reply: z.object({ hosts: z.array(hostSummaryV1) }),
});

const setHostEnabledFields = z.object({
  host: hostName,
  enabled: z.boolean(),
  disabled_reason: z.string().max(255).nullable(),
});

export const setHostEnabled = defineMessage({
  type: 'scheduler.set_host_enabled',
  version: 2,
  kind: 'rpc',
  description:
    'api → scheduler (RPC): enable or disable scheduling to a host (os-services enable/disable). ' +
    'v2 adds forced_down to the reply.',
  schema: setHostEnabledFields,
  reply: hostSummary,
});

/** Superseded by v2 (no forced_down in the reply); still answered by the scheduler, never sent. */
export const setHostEnabledV1 = defineMessage({
  type: 'scheduler.set_host_enabled',
  version: 1,
  kind: 'rpc',
  description: 'api → scheduler (RPC): enable or disable scheduling to a host (os-services enable/disable).',
  schema: setHostEnabledFields,
  reply: hostSummaryV1,
});

export const setHostForcedDown = defineMessage({
  type: 'scheduler.set_host_forced_down',
  version: 1,
  kind: 'rpc',
  description:
    'api → scheduler (RPC): mark a host down whatever its heartbeat says, or lift that ' +
    '(os-services forced_down); a host forced down gets no new instances.',
  schema: z.object({ host: hostName, forced_down: z.boolean() }),
  reply: hostSummary,
});
