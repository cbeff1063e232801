/** Field schemas shared by several messages, in OpenStack's vocabulary. */
import { z } from 'zod';

/** Instance ids are UUIDs (Nova's server id). */
export const instanceId = z.uuid();

/**
 * A compute host name: it becomes part of a routing key (`compute.<host>`) and a queue name,
 * so it is restricted to letters, digits, '-', '_' and '.' (no AMQP wildcards).
 */
export const hostName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, - _ . only, starting with a letter or digit');

export const RESOURCE_CLASSES = ['VCPU', 'MEMORY_MB', 'DISK_GB'] as const;
export const resourceClass = z.enum(RESOURCE_CLASSES);
export type ResourceClass = z.infer<typeof resourceClass>;

/** Nova's vm_state values. */
export const VM_STATES = [
  'building',
  'active',
  'stopped',
  'paused',
  'suspended',
  'rescued',
  'resized',
  'soft-delete',
  'deleted',
  'error',
  'shelved',
  'shelved_offloaded',
] as const;
export const vmState = z.enum(VM_STATES);
export type VmState = z.infer<typeof vmState>;

/** The task_states of instance.state_changed v1 (its schema keeps exactly these). */
const TASK_STATES_V1 = [
  'scheduling',
  'networking',
  'block_device_mapping',
  'spawning',
  'powering-off',
  'powering-on',
  'rebooting',
  'reboot_pending',
  'reboot_started',
  'rebooting_hard',
  'reboot_pending_hard',
  'reboot_started_hard',
  'deleting',
] as const;

/** Nova's task_state values that Strato uses (null when no task runs). */
export const TASK_STATES = [
  ...TASK_STATES_V1,
  // createImage: set by the api, then the agent's progress (nova/compute/task_states.py).
  'image_snapshot',
  'image_snapshot_pending',
  'image_pending_upload',
  'image_uploading',
] as const;
export const taskState = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof taskState>;
/** The task_state field of instance.state_changed v1. */
export const taskStateV1 = z.enum(TASK_STATES_V1);

/** Nova's power_state codes (nova/compute/power_state.py). */
export const POWER_STATE = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const;
export const powerState = z.union([
  z.literal(0),
  z.literal(1),
  z.literal(3),
  z.literal(4),
  z.literal(6),
  z.literal(7),
]);
export type PowerState = z.infer<typeof powerState>;

/** Nova's instance fault: shown on a server in ERROR. */
export const fault = z.object({
  /** HTTP-like code, as Nova records it (500 for "No valid host was found."). */
  code: z.int().min(100).max(599),
  message: z.string().min(1).max(4096),
  details: z.string().max(65535).nullable(),
});
export type Fault = z.infer<typeof fault>;

/** What a flavor says the instance needs, with its extra_specs (e.g. 'capabilities:hypervisor_type'). */
export const flavor = z.object({
  id: z.string().min(1).max(255),
  name: z.string().min(1).max(255),
  vcpus: z.int().min(1).max(4096),
  ram_mb: z.int().min(1),
  disk_gb: z.int().min(0),
  ephemeral_gb: z.int().min(0),
  swap_mb: z.int().min(0),
  extra_specs: z.record(z.string().max(255), z.string().max(255)),
});
export type Flavor = z.infer<typeof flavor>;

/** The image to boot, with its properties (e.g. hypervisor_type, architecture). */
export const image = z.object({
  id: z.string().min(1).max(255),
  name: z.string().max(255).nullable(),
  disk_format: z.string().max(64).nullable(),
  container_format: z.string().max(64).nullable(),
  /** Image size in bytes (when known). */
  size: z.int().min(0).nullable(),
  /** Hex checksum the agent verifies after download (os_hash_value, else MD5 checksum). */
  checksum: z.string().max(256).nullable(),
  min_ram_mb: z.int().min(0),
  min_disk_gb: z.int().min(0),
  properties: z.record(z.string().max(255), z.string().max(65535)),
});
export type Image = z.infer<typeof image>;

export const SERVER_GROUP_POLICIES = [
  'affinity',
  'anti-affinity',
  'soft-affinity',
  'soft-anti-affinity',
] as const;
export const serverGroup = z.object({
  id: z.string().min(1).max(255),
  policy: z.enum(SERVER_GROUP_POLICIES),
  /** Hosts of the group's other members as the api knows them (the scheduler adds its own). */
  hosts: z.array(hostName),
});
export type ServerGroup = z.infer<typeof serverGroup>;

/** The instance data the compute agent needs to build the guest. */
export const instanceSpec = z.object({
  instance_id: instanceId,
  project_id: z.string().min(1).max(255),
  user_id: z.string().min(1).max(255),
  /** The user's name for the server: free text (may be 10 KiB of XML metacharacters). */
  display_name: z.string().max(16384),
  flavor,
  image,
  metadata: z.record(z.string().max(255), z.string().max(255)),
  /** Base64 user data (Nova's limit: 65535 bytes encoded). */
  user_data: z.string().max(65535).nullable(),
  /** Public key of the server's key pair, when it has one. */
  key_data: z.string().max(16384).nullable(),
  /**
   * Name of the server's key pair (config drive's meta_data.json), when it has one. Absent
   * means none: payloads written before the field existed (outbox rows, stored requests).
   */
  key_name: z.string().max(255).nullable().default(null),
});
export type InstanceSpec = z.infer<typeof instanceSpec>;
/** The instance spec of schedule_instance v1 and build_instance v1 (no key_name). */
export const instanceSpecV1 = instanceSpec.omit({ key_name: true });

export const isoTime = z.iso.datetime({ offset: true });
