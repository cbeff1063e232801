/** The api service's configuration: every option, read from the environment once. */
import { env, infraSchema, loadConfig, z, type Env } from '@strato/config';

const url = z.string().url();

export const apiConfigSchema = z.object({
  ...infraSchema,
  BIND_HOST: z.string().default('127.0.0.1'),
  IDENTITY_PORT: env.port(5000),
  COMPUTE_PORT: env.port(8774),
  /** Comma-separated kid:secret pairs (32+ character secrets); the first signs tokens. */
  TOKEN_SIGNING_KEYS: z.string().min(1),
  TOKEN_TTL_SECONDS: env.int(3600, 60),
  REGION: z.string().default('RegionOne'),
  /** Catalog URLs: public, with internal and admin defaulting to public. */
  IDENTITY_PUBLIC_URL: url.default('http://127.0.0.1:5000/v3/'),
  IDENTITY_INTERNAL_URL: url.optional(),
  IDENTITY_ADMIN_URL: url.optional(),
  COMPUTE_PUBLIC_URL: url.default('http://127.0.0.1:8774/v2.1'),
  COMPUTE_INTERNAL_URL: url.optional(),
  COMPUTE_ADMIN_URL: url.optional(),
  IMAGE_PUBLIC_URL: url.default('http://127.0.0.1:9292'),
  IMAGE_INTERNAL_URL: url.optional(),
  IMAGE_ADMIN_URL: url.optional(),
  OBJECT_STORE_PUBLIC_URL: z.string().default('http://127.0.0.1:8080/v1/AUTH_%(project_id)s'),
  OBJECT_STORE_INTERNAL_URL: z.string().optional(),
  OBJECT_STORE_ADMIN_URL: z.string().optional(),
  /** Bootstrap (like keystone-manage bootstrap): admin user, project and roles. */
  ADMIN_USER: z.string().default('admin'),
  ADMIN_PROJECT: z.string().default('admin'),
  ADMIN_PASSWORD: z.string().min(1).optional(),
  /** Largest accepted JSON body. */
  MAX_BODY_BYTES: env.int(114688, 1024),
});

export type ApiConfig = Readonly<z.infer<typeof apiConfigSchema>>;

export function loadApiConfig(source: Env = process.env): ApiConfig {
  return loadConfig(apiConfigSchema, source);
}
