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
  /** This hypervisor's name: its queue is compute.<HOST_NAME>. */
  HOST_NAME: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/, 'letters, digits, - _ . only')
    .default(hostname().replace(/[^A-Za-z0-9_.-]/g, '-')),
  HOST_IP: z.string().default('127.0.0.1'),
  AVAILABILITY_ZONE: z.string().min(1).default('nova'),
  /** libvirt connection; test:///default is libvirt's in-library test hypervisor. */
  LIBVIRT_URI: z.string().min(1).default('test:///default'),
  /** 'fake' is the in-memory simulated hypervisor (no libvirt). */
  HYPERVISOR_DRIVER: z.enum(['libvirt', 'fake']).default('libvirt'),
  /** Domain type on qemu:// URIs: kvm needs hardware virtualisation (vmx/svm). */
  LIBVIRT_DOMAIN_TYPE: z.enum(['kvm', 'qemu']).default('qemu'),
  /** Per-instance files (disks, console logs); default <DATA_DIR>/instances/<HOST_NAME>. */
  INSTANCES_DIR: z.string().optional(),
  BIND_HOST: z.string().default('127.0.0.1'),
  /** Health (/healthz, /readyz) and Prometheus /metrics only. */
  COMPUTE_AGENT_PORT: env.port(9102),
  /** How often inventory and load are reported and the heartbeat renewed. */
  REPORT_INTERVAL_MS: env.int(5000, 100),
  /** Heartbeat TTL: silent this long, the host is down and its builds are failed over. */
  HEARTBEAT_TIMEOUT_S: env.int(30, 1),
  /** Power-state polling interval (when lifecycle events are unavailable). */
  POWER_SYNC_INTERVAL_MS: env.int(10000, 100),
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
