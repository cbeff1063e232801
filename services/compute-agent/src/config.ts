/** The compute agent's configuration: every option, read from the environment once. */
import { hostname } from 'node:os';
import { env, infraSchema, loadConfig, z, type Env } from '@strato/config';

const ratio = (fallback: number) => z.coerce.number().positive().max(1000).default(fallback);
const optionalInt = z.coerce.number().int().min(0).optional();
const list = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );

export const computeAgentConfigSchema = z.object({
  ...infraSchema,
  /**
   * CPU priority (nice, -20…19) of this background worker: 10 by default, so that where it
   * shares cores with the api it leaves them to requests first (its work is queued and
   * asynchronous); 0 to compete equally.
   */
  PROCESS_NICE: env.nice(10),
  /** This hypervisor's name: its queue is compute.<HOST_NAME>. */
  HOST_NAME: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/, 'letters, digits, - _ . only')
    .default(hostname().replace(/[^A-Za-z0-9_.-]/g, '-')),
  HOST_IP: z.string().default('127.0.0.1'),
  AVAILABILITY_ZONE: z.string().min(1).max(255).default('nova'),
  /** libvirt connection; test:///default is libvirt's in-library test hypervisor. */
  LIBVIRT_URI: z.string().min(1).default('test:///default'),
  /** 'fake' is the in-memory simulated hypervisor (no libvirt). */
  HYPERVISOR_DRIVER: z.enum(['libvirt', 'fake']).default('libvirt'),
  /**
   * Like Nova's virt_type: the domain type of real guests. auto = kvm when /dev/kvm exists and
   * the CPU has vmx/svm, else qemu (TCG emulation).
   */
  LIBVIRT_VIRT_TYPE: z.enum(['auto', 'kvm', 'qemu']).optional(),
  /** @deprecated the old name of LIBVIRT_VIRT_TYPE (kvm or qemu); used when that is unset. */
  LIBVIRT_DOMAIN_TYPE: z.enum(['kvm', 'qemu']).optional(),
  /** The libvirt network guest NICs join (a NAT network is made if missing); 'none': no NIC. */
  LIBVIRT_NETWORK: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - only')
    .default('default'),
  /** How the config drive is attached: a cdrom on ide or sata, or a read-only virtio disk. */
  CONFIG_DRIVE_BUS: z.enum(['ide', 'sata', 'virtio']).default('ide'),
  /** SOFT reboot: time the guest gets to shut down (ACPI) before a HARD reboot instead. */
  SOFT_REBOOT_GRACE_MS: env.int(120000, 0),
  /** Per-instance files (disks, console logs); default <DATA_DIR>/instances/<HOST_NAME>. */
  INSTANCES_DIR: z.string().optional(),
  /** The host's image cache; default <INSTANCES_DIR>/_base. */
  IMAGE_CACHE_DIR: z.string().optional(),
  /** Unused cached images are evicted (least recently used first) above this size. */
  IMAGE_CACHE_MAX_GB: z.coerce.number().min(0).default(20),
  /** The image service, where real guests' images are downloaded from. */
  IMAGE_URL: env.url().default('http://127.0.0.1:9292'),
  /**
   * The signing keys the api and image service share (kid:secret,...): the agent mints its own
   * token for the image service with them. Required for real hypervisors (qemu URIs).
   */
  TOKEN_SIGNING_KEYS: z.string().min(1).optional(),
  /** The project the agent's own token is scoped to (admin role). */
  SERVICE_PROJECT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
    .default('service'),
  /** Lifetime of the token the agent mints for itself. */
  SERVICE_TOKEN_TTL_SECONDS: env.int(3600, 120),
  BIND_HOST: z.string().default('127.0.0.1'),
  /** Health (/healthz, /readyz) and Prometheus /metrics only. */
  COMPUTE_AGENT_PORT: env.port(9102),
  /** How often inventory and load are reported and the heartbeat renewed. */
  REPORT_INTERVAL_MS: env.int(5000, 100),
  /** Heartbeat TTL: silent this long, the host is down and its builds are failed over. */
  HEARTBEAT_TIMEOUT_S: env.int(30, 1),
  /** Power-state polling interval (when lifecycle events are unavailable). */
  POWER_SYNC_INTERVAL_MS: env.int(10000, 100),
  /**
   * How long a spawn runs before task_state spawning is reported; a quicker spawn is reported
   * once, as its outcome (0: report spawning at once, as every build did before).
   */
  SPAWNING_REPORT_MS: env.int(1000, 0),
  /** Graceful ACPI shutdown time before a hard stop (os-stop). */
  SHUTDOWN_GRACE_MS: env.int(60000, 0),
  /** Override the hypervisor's inventory (e.g. an exact test capacity). */
  VCPUS: optionalInt,
  MEMORY_MB: optionalInt,
  DISK_GB: optionalInt,
  RESERVED_HOST_CPUS: env.int(0),
  RESERVED_HOST_MEMORY_MB: env.int(512),
  RESERVED_HOST_DISK_GB: env.int(0),
  CPU_ALLOCATION_RATIO: ratio(4),
  RAM_ALLOCATION_RATIO: ratio(1),
  DISK_ALLOCATION_RATIO: ratio(1),
  /** Comma-separated traits (e.g. HW_CPU_X86_AVX2,CUSTOM_SSD). */
  HOST_TRAITS: list,
  /** Comma-separated key=value capabilities matched by flavor extra_specs. */
  HOST_CAPABILITIES: list.transform((pairs) =>
    Object.fromEntries(
      pairs.map((p) => {
        const eq = p.indexOf('=');
        return eq < 0 ? [p, 'true'] : [p.slice(0, eq).trim(), p.slice(eq + 1).trim()];
      }),
    ),
  ),
  /** Messages handled at once from this host's queue. */
  AGENT_PREFETCH: env.int(16, 1),
});

export type ComputeAgentConfig = Readonly<z.infer<typeof computeAgentConfigSchema>>;

export function loadComputeAgentConfig(source: Env = process.env): ComputeAgentConfig {
  return loadConfig(computeAgentConfigSchema, source);
}
