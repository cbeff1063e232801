/** Identity objects as Keystone renders them on the wire, with links from the public URL. */
import { createHash } from 'node:crypto';
import type { TokenClaims } from '@strato/auth';
import type { CatalogEntry } from '../catalog';
import type { Domain, Ec2Credential, NamedAssignment, Assignment, Project, Role, User } from '../model';
import type { EndpointRow, ServiceRow } from '../store/entities';

/** Keystone's timestamps: ISO 8601 with microseconds, e.g. 2026-11-26T03:17:46.000000Z. */
export function keystoneTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export const VERSION_ID = 'v3.14';

export class IdentityViews {
  /** The v3 base URL, always ending in a slash (e.g. http://127.0.0.1:5000/v3/). */
  readonly base: string;

  constructor(publicUrl: string) {
    this.base = publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`;
  }

  /** The service root (for WWW-Authenticate), e.g. http://127.0.0.1:5000. */
  get root(): string {
    return this.base.replace(/\/v3\/$/, '').replace(/\/$/, '');
  }

  version() {
    return {
      id: VERSION_ID,
      status: 'stable',
      updated: '2020-04-07T00:00:00Z',
      links: [{ rel: 'self', href: this.base }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
    };
  }

  list<T>(key: string, path: string, items: T[]) {
    return { [key]: items, links: { next: null, self: `${this.base}${path}`, previous: null } };
  }

  token(claims: TokenClaims, catalog: CatalogEntry[] | null) {
    const body: Record<string, unknown> = {
      methods: claims.methods,
      user: {
        domain: { id: claims.userDomainId, name: claims.userDomainName },
        id: claims.userId,
        name: claims.userName,
        password_expires_at: null,
      },
      audit_ids: claims.auditIds,
      expires_at: keystoneTime(claims.expiresAt),
      issued_at: keystoneTime(claims.issuedAt),
    };
    if (claims.project) {
      const p = claims.project;
      body.project = { domain: { id: p.domainId, name: p.domainName }, id: p.id, name: p.name };
      body.is_domain = false;
      body.roles = claims.roles.map((r) => ({ id: r.id, name: r.name }));
      if (catalog) body.catalog = catalog;
    }
    return { token: body };
  }

  domain(d: Domain) {
    return {
      ...d.extra,
      id: d.id,
      name: d.name,
      description: d.description,
      enabled: d.enabled,
      tags: [],
      options: {},
      links: { self: `${this.base}domains/${d.id}` },
    };
  }

  project(p: Project) {
    return {
      ...p.extra,
      is_domain: false,
      description: p.description,
      links: { self: `${this.base}projects/${p.id}` },
      tags: p.tags,
      enabled: p.enabled,
      id: p.id,
      parent_id: p.parentId ?? p.domainId,
      domain_id: p.domainId,
      name: p.name,
      options: {},
    };
  }

  user(u: User) {
    return {
      ...u.extra,
      id: u.id,
      name: u.name,
      domain_id: u.domainId,
      enabled: u.enabled,
      password_expires_at: null,
      options: {},
      ...(u.defaultProjectId ? { default_project_id: u.defaultProjectId } : {}),
      links: { self: `${this.base}users/${u.id}` },
    };
  }

  role(r: Role) {
    return {
      ...r.extra,
      id: r.id,
      name: r.name,
      domain_id: null,
      description: r.description,
      options: {},
      links: { self: `${this.base}roles/${r.id}` },
    };
  }

  assignment(a: Assignment | NamedAssignment, domains: Map<string, Domain>) {
    const link = `${this.base}projects/${a.projectId}/users/${a.userId}/roles/${a.roleId}`;
    if (!('roleName' in a)) {
      return {
        scope: { project: { id: a.projectId } },
        role: { id: a.roleId },
        user: { id: a.userId },
        links: { assignment: link },
      };
    }
    const domainRef = (id: string) => ({ id, name: domains.get(id)?.name ?? id });
    return {
      scope: { project: { id: a.projectId, name: a.projectName, domain: domainRef(a.projectDomainId) } },
      role: { id: a.roleId, name: a.roleName },
      user: { id: a.userId, name: a.userName, domain: domainRef(a.userDomainId) },
      links: { assignment: link },
    };
  }

  ec2(c: Ec2Credential) {
    return {
      user_id: c.userId,
      tenant_id: c.projectId,
      access: c.access,
      secret: c.secret,
      trust_id: null,
      links: { self: `${this.base}users/${c.userId}/credentials/OS-EC2/${c.access}` },
    };
  }

  /** An EC2 credential as /v3/credentials shows it: id is the SHA-256 of the access key. */
  credential(c: Ec2Credential) {
    const id = createHash('sha256').update(c.access).digest('hex');
    return {
      id,
      type: 'ec2',
      user_id: c.userId,
      project_id: c.projectId,
      blob: JSON.stringify({ access: c.access, secret: c.secret, trust_id: null }),
      links: { self: `${this.base}credentials/${id}` },
    };
  }

  service(s: ServiceRow) {
    return {
      id: s.id,
      type: s.type,
      name: s.name,
      enabled: s.enabled,
      links: { self: `${this.base}services/${s.id}` },
    };
  }

  endpoint(e: EndpointRow) {
    return {
      id: e.id,
      interface: e.interface,
      region_id: e.region,
      region: e.region,
      url: e.url,
      service_id: e.serviceId,
      enabled: e.enabled,
      links: { self: `${this.base}endpoints/${e.id}` },
    };
  }
}
