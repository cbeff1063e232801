/**
 * The service catalog: what bootstrap stores (services and their endpoints, from
 * configuration) and how a token's catalog is rendered from it. Like Keystone, endpoint URLs
 * may hold `%(project_id)s` (or `%(tenant_id)s`), filled in with the token's project.
 */
import type { ApiConfig } from '../config';

export type EndpointInterface = 'public' | 'internal' | 'admin';
export const ENDPOINT_INTERFACES: readonly EndpointInterface[] = ['public', 'internal', 'admin'];

export interface CatalogServiceSpec {
  type: string;
  name: string;
  urls: Record<EndpointInterface, string>;
}

export interface CatalogSpec {
  region: string;
  services: CatalogServiceSpec[];
}

/** One service of a token's catalog, shaped as Keystone sends it. */
export interface CatalogEntry {
  endpoints: { id: string; interface: string; region_id: string; url: string; region: string }[];
  id: string;
  type: string;
  name: string;
}

function urls(pub: string, internal: string | undefined, admin: string | undefined) {
  return { public: pub, internal: internal ?? pub, admin: admin ?? pub };
}

export function catalogFromConfig(config: ApiConfig): CatalogSpec {
  return {
    region: config.REGION,
    services: [
      {
        type: 'identity',
        name: 'keystone',
        urls: urls(config.IDENTITY_PUBLIC_URL, config.IDENTITY_INTERNAL_URL, config.IDENTITY_ADMIN_URL),
      },
      {
        type: 'compute',
        name: 'nova',
        urls: urls(config.COMPUTE_PUBLIC_URL, config.COMPUTE_INTERNAL_URL, config.COMPUTE_ADMIN_URL),
      },
      {
        type: 'image',
        name: 'glance',
        urls: urls(config.IMAGE_PUBLIC_URL, config.IMAGE_INTERNAL_URL, config.IMAGE_ADMIN_URL),
      },
      {
        type: 'object-store',
        name: 'swift',
        urls: urls(
          config.OBJECT_STORE_PUBLIC_URL,
          config.OBJECT_STORE_INTERNAL_URL,
          config.OBJECT_STORE_ADMIN_URL,
        ),
      },
    ],
  };
}

const SUBSTITUTION = /%\((?:project_id|tenant_id)\)s/g;

/**
 * Fills in the project id. Without a project, a URL that needs one cannot be built and is
 * left out (null), as Keystone does.
 */
export function endpointUrl(template: string, projectId: string | null): string | null {
  if (template.search(SUBSTITUTION) < 0) return template;
  return projectId === null ? null : template.replace(SUBSTITUTION, projectId);
}
