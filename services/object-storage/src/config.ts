/** The object-storage service's configuration: every option, read from the environment once. */
import { env, infraSchema, loadConfig, z, type Env } from '@strato/config';

const GIB = 1024 * 1024 * 1024;

export const objectStorageConfigSchema = z.object({
  ...infraSchema,
  BIND_HOST: z.string().default('127.0.0.1'),
  /** Swift and S3 share this port (OpenStack's default for object storage). */
  OBJECT_STORE_PORT: env.port(8080),
  /** Comma-separated kid:secret pairs; the same keys the api service signs tokens with. */
  TOKEN_SIGNING_KEYS: z.string().min(1),
  /** Object bytes live under this directory; defaults to DATA_DIR/objects. */
  OBJECT_DATA_DIR: z.string().optional(),
  /** The database schema (PostgreSQL) or SQLite file name this service owns. */
  OBJECT_STORE_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lowercase letters, digits and _ only')
    .default('object_storage'),
  /** Largest single object (Swift PUT, S3 PutObject and each multipart part). */
  MAX_OBJECT_SIZE: env.int(5 * GIB, 1),
  /** Smallest S3 multipart part except the last (S3: 5 MiB). */
  S3_MIN_PART_SIZE: env.int(5 * 1024 * 1024, 0),
  /** S3 region used in Signature V4 scopes (any region is accepted; this one is advertised). */
  S3_REGION: z.string().default('us-east-1'),
  /** How long a verified token is trusted without checking it again (revocation delay). */
  TOKEN_CACHE_SECONDS: env.int(10, 0),
  /** How long a successful access-key lookup is cached. */
  CREDENTIAL_CACHE_SECONDS: env.int(60, 0),
  /** Largest SLO manifest or S3 XML request body. */
  MAX_MANIFEST_BYTES: env.int(2 * 1024 * 1024, 1024),
  /** fsync object data and metadata before acknowledging a write (turn off only in tests). */
  FSYNC: env.bool(true),
});

export type ObjectStorageConfig = Readonly<z.infer<typeof objectStorageConfigSchema>>;

export function loadObjectStorageConfig(source: Env = process.env): ObjectStorageConfig {
  return loadConfig(objectStorageConfigSchema, source);
}
