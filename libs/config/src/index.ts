/**
 * Configuration: the environment, read once at start, validated with zod and frozen. A bad
 * or missing variable stops start-up with one clear line naming every offending variable.
 * Nothing else in a service reads process.env.
 */
import { z } from 'zod';

export { z };

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Validates env against a schema keyed by variable name; returns the frozen typed result. */
export function loadConfig<S extends z.ZodObject<z.ZodRawShape>>(
  schema: S,
  env: Env = process.env,
): Readonly<z.infer<S>> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.map(String).join('.') || '(environment)';
      const given = env[name];
      return given === undefined || given === ''
        ? `${name} is required (${issue.message})`
        : `${name}=${JSON.stringify(redactIfSecret(name, given))} is invalid (${issue.message})`;
    });
    throw new ConfigError(problems);
  }
  return Object.freeze(parsed.data);
}

function redactIfSecret(name: string, value: string): string {
  if (/SECRET|PASSWORD|TOKEN|KEY/i.test(name)) return '***';
  // Credentials inside a URL (scheme://user:password@host) are never echoed either.
  return value.replace(/(\/\/[^/:@\s]*):[^@\s]*@/g, '$1:***@');
}

/** Reusable field types for the environment. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  int: (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback),
  url: () => z.string().url(),
  /** A process nice value: -20 (first) … 19 (last); raising it needs no privilege. */
  nice: (fallback: number) => z.coerce.number().int().min(-20).max(19).default(fallback),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/**
 * The three deployment dependencies, shared by every service. Unset means the embedded
 * default: SQLite file, in-memory bus, in-memory cache.
 */
export const infraSchema = {
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|sqlite:)/, 'must start with postgres:// or sqlite:')
    .optional(),
  AMQP_URL: z
    .string()
    .regex(/^amqps?:\/\//, 'must start with amqp:// or amqps://')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  DATA_DIR: z.string().default('./data'),
  LOG_LEVEL: env.logLevel(),
  /**
   * Most PostgreSQL connections this process holds at once (SQLite has one). Each connection
   * is a server process of its own that competes for CPU; see docs/operations.md.
   */
  DB_POOL_MAX: env.int(10, 1),
};

/** Main-process helper: print a ConfigError as one line and exit 1; rethrow anything else. */
export function exitOnConfigError(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
