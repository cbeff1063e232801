/** The image service's configuration: every option, read from the environment once. */
import { env, infraSchema, loadConfig, z, type Env } from '@strato/config';

export const imageConfigSchema = z.object({
  ...infraSchema,
  BIND_HOST: z.string().default('127.0.0.1'),
  IMAGE_PORT: env.port(9292),
  /** Base URL put in version documents; unset means the URL the client used (Host header). */
  IMAGE_PUBLIC_URL: env.url().optional(),
  /** Where a 401 sends clients (Www-Authenticate: Keystone uri=...). */
  IDENTITY_PUBLIC_URL: env.url().default('http://127.0.0.1:5000/v3/'),
  /** Comma-separated kid:secret pairs, the same as the api service's; the first signs. */
  TOKEN_SIGNING_KEYS: z.string().min(1),
  /** Lifetime of the service token the image service mints for itself. */
  SERVICE_TOKEN_TTL_SECONDS: env.int(3600, 120),
  /** Swift endpoint without the account, e.g. http://127.0.0.1:8080/v1. */
  OBJECT_STORE_URL: env.url().default('http://127.0.0.1:8080/v1'),
  /** The service project whose account (AUTH_<id>) holds image data. */
  IMAGE_SERVICE_PROJECT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
    .default('service'),
  /** Container in that account for image data. */
  IMAGE_CONTAINER: z
    .string()
    .regex(/^[^/]{1,256}$/, 'no slash, 1 to 256 characters')
    .default('images'),
  /** Largest image accepted, in bytes (Glance's image_size_cap: 1 TiB). */
  IMAGE_SIZE_CAP: env.int(1099511627776, 1),
  /** Most tags one image may carry (Glance's image_tag_quota). */
  IMAGE_TAG_QUOTA: env.int(128, 1),
  /** Most extra properties one image may carry (Glance's image_property_quota). */
  IMAGE_PROPERTY_QUOTA: env.int(128, 1),
  /** Largest accepted JSON body. */
  MAX_BODY_BYTES: env.int(65536, 1024),
});

export type ImageConfig = Readonly<z.infer<typeof imageConfigSchema>>;

export function loadImageConfig(source: Env = process.env): ImageConfig {
  return loadConfig(imageConfigSchema, source);
}
