/** The scheduler's configuration: every option, read from the environment once. */
import { env, infraSchema, loadConfig, z, type Env } from '@strato/config';
import { DEFAULT_FILTERS } from './filters';

const multiplier = z.coerce.number().min(-1000).max(1000).optional();

export const schedulerConfigSchema = z.object({
  ...infraSchema,
  /**
   * CPU priority (nice, -20…19) of this background worker: 10 by default, so that where it
   * shares cores with the api it leaves them to requests first (its work is queued and
   * asynchronous); 0 to compete equally.
   */
  PROCESS_NICE: env.nice(10),
  /**
   * Few connections by default: claims on one host queue on its row lock anyway, and every
   * connection is a PostgreSQL process that, waiting its turn, takes CPU from the api.
   */
  DB_POOL_MAX: env.int(3, 1),
  BIND_HOST: z.string().default('127.0.0.1'),
  /** Health (/healthz, /readyz) and Prometheus /metrics only. */
  SCHEDULER_PORT: env.port(9101),
  /** PostgreSQL schema (or SQLite file name) of the placement tables. */
  SCHEDULER_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _')
    .default('scheduler'),
  /** Comma-separated filter names, applied in this order. */
  SCHEDULER_FILTERS: z
    .string()
    .default(DEFAULT_FILTERS.join(','))
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    ),
  /** spread: prefer emptier hosts; pack: fill hosts up first. Multipliers below override it. */
  SCHEDULER_STRATEGY: z.enum(['spread', 'pack']).default('spread'),
  RAM_WEIGHT_MULTIPLIER: multiplier,
  VCPU_WEIGHT_MULTIPLIER: multiplier,
  CPU_LOAD_WEIGHT_MULTIPLIER: multiplier,
  INSTANCE_COUNT_WEIGHT_MULTIPLIER: multiplier,
  /** Choose at random among the best N hosts (reduces claim contention); 1 = always the best. */
  SCHEDULER_HOST_SUBSET_SIZE: env.int(1, 1),
  /** Build attempts per instance (first try + reschedules) before ERROR. */
  MAX_ATTEMPTS: env.int(3, 1),
  /** How often builds on hosts with an expired heartbeat are failed over. */
  SWEEP_INTERVAL_MS: env.int(5000, 50),
  /**
   * How long one read of the hosts (inventories, allocations, heartbeats) serves placement,
   * with this scheduler's own claims added as they succeed; 0 reads them for every request.
   * Claims are checked in the database either way.
   */
  SCHEDULER_HOST_VIEW_MS: env.int(1000, 0),
  /** Messages handled at once per queue. */
  SCHEDULER_PREFETCH: env.int(16, 1),
});

export type SchedulerConfig = Readonly<z.infer<typeof schedulerConfigSchema>>;

export function loadSchedulerConfig(source: Env = process.env): SchedulerConfig {
  return loadConfig(schedulerConfigSchema, source);
}
