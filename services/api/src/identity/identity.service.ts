/**
 * Identity: authentication (password and token methods, project scope), token validation
 * against the current state of users, projects and role assignments, and the administration
 * of projects, users, roles, grants, the service catalog and EC2 credentials.
 *
 * Knows no HTTP: it throws AppErrors (NotFound, Conflict, Unauthorized, Invalid) that the
 * router maps to Keystone's fault bodies. Secrets (passwords, tokens, EC2 secrets) are never
 * logged.
 */
import { randomUUID } from 'node:crypto';
import {
  hashPassword,
  verifyPassword,
  type RoleRef,
  type SigningKey,
  type TokenClaims,
  type TokenService,
} from '@strato/auth';
import { inTransaction, type DataSource, type EntityManager, type Repository } from '@strato/db';
import { In } from 'typeorm';
import { AppError, conflict, forbidden, invalid, notFound, unauthorized } from '@strato/errors';
import type { Logger } from '@strato/log';
import { ENDPOINT_INTERFACES, endpointUrl, type CatalogEntry, type CatalogSpec } from './catalog';
import {
  DEFAULT_DOMAIN_ID,
  type Assignment,
  type AuthRequest,
  type Domain,
  type DomainRef,
  type Ec2Credential,
  type Ec2Identity,
  type IssuedToken,
  type NamedAssignment,
  type Project,
  type ProjectInput,
  type ProjectPatch,
  type Role,
  type RoleInput,
  type RolePatch,
  type User,
  type UserInput,
  type UserPatch,
} from './model';
import { SecretBox } from './secrets';
import {
  AssignmentEntity,
  DomainEntity,
  Ec2CredentialEntity,
  EndpointEntity,
  ProjectEntity,
  RoleEntity,
  ServiceEntity,
  UserEntity,
  type EndpointRow,
  type ServiceRow,
  type UserRow,
} from './store/entities';

export interface IdentityServiceDeps {
  db: DataSource;
  tokens: TokenService;
  log: Logger;
  catalog: CatalogSpec;
  /** Keys that encrypt EC2 secrets at rest (the token signing keys); EC2 credentials need them. */
  secretKeys?: readonly SigningKey[];
}

/** A Keystone-style id: a UUID without dashes (32 hex characters). */
export function newId(): string {
  return randomUUID().replace(/-/g, '');
}

const SUPPORTED_METHODS = new Set(['password', 'token']);

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  return (
    code === '23505' || (typeof code === 'string' && /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(code))
  );
}

/** typeorm's insert/update types trip over JSON columns; rows here are complete and typed. */
function asRow<T extends object>(row: Partial<T>): Parameters<Repository<T>['insert']>[0] {
  return row as Parameters<Repository<T>['insert']>[0];
}

function asPatch<T extends object>(row: Partial<T>): Parameters<Repository<T>['update']>[1] {
  return row as Parameters<Repository<T>['update']>[1];
}

function withoutHash(row: UserRow): User {
  const { passwordHash: _hidden, ...user } = row;
  return user;
}

/** How long the catalog's rows are reused between reads (they change only on bootstrap). */
const CATALOG_CACHE_MS = 10_000;
/** How long a user's current roles on a project are reused (revocation is checked every time). */
const CLAIMS_CACHE_MS = 2_000;

export class IdentityService {
  private readonly box: SecretBox | null;
  private dummyHash: Promise<string> | null = null;
  private readonly recentChecks = new Map<string, { at: number; roles: Promise<RoleRef[] | null> }>();
  private catalogRows: { at: number; rows: Promise<[ServiceRow[], EndpointRow[]]> } | null = null;

  constructor(private readonly deps: IdentityServiceDeps) {
    this.box = deps.secretKeys && deps.secretKeys.length > 0 ? new SecretBox(deps.secretKeys) : null;
  }

  get catalogSpec(): CatalogSpec {
    return this.deps.catalog;
  }

  private get db(): DataSource {
    return this.deps.db;
  }

  // ---------------------------------------------------------------- authentication

  /** POST /v3/auth/tokens: checks every listed method, then the scope, and issues a token. */
  async issueToken(request: AuthRequest): Promise<IssuedToken> {
    const methods = [...new Set(request.methods)];
    if (methods.length === 0 || methods.some((m) => !SUPPORTED_METHODS.has(m))) {
      throw unauthorized('Attempted to authenticate with an unsupported method.');
    }
    let user: UserRow | null = null;
    let parent: TokenClaims | undefined;
    const outMethods: string[] = [];
    if (methods.includes('token')) {
      if (!request.token) throw invalid('Expecting to find token in identity.');
      parent = await this.deps.tokens.verify(request.token.id);
      user = await this.activeUser(parent.userId);
      outMethods.push('token', ...parent.methods.filter((m) => m !== 'token'));
    }
    if (methods.includes('password')) {
      if (!request.password) throw invalid('Expecting to find password in identity.');
      const byPassword = await this.checkPassword(request.password.user);
      if (user && user.id !== byPassword.id) throw unauthorized('Methods identify different users.');
      user = byPassword;
      if (!outMethods.includes('password')) outMethods.push('password');
    }
    if (!user) throw unauthorized();
    const userDomain = await this.domainById(user.domainId);
    const base = {
      userId: user.id,
      userName: user.name,
      userDomainId: userDomain.id,
      userDomainName: userDomain.name,
      methods: outMethods,
      ...(parent ? { parent } : {}),
    };

    const scope = request.scope;
    switch (scope.kind) {
      case 'unscoped':
        return this.deps.tokens.issue({ ...base, project: null, roles: [] });
      case 'project': {
        const project = await this.scopeProject(scope);
        const roles = await this.rolesOn(user.id, project.id);
        if (roles.length === 0) {
          throw unauthorized(`User ${user.id} has no access to project ${project.id}.`);
        }
        const domain = await this.domainById(project.domainId);
        return this.deps.tokens.issue({
          ...base,
          project: { id: project.id, name: project.name, domainId: domain.id, domainName: domain.name },
          roles,
        });
      }
      case 'domain':
      case 'system':
      case 'trust':
        throw unauthorized(`Scoping a token to a ${scope.kind} is not supported; scope it to a project.`);
    }
  }

  /**
   * The claims of a verified token, checked against the current state: the user still exists
   * and is enabled, the project too, and the roles are the user's roles now (none left: 401).
   */
  async currentClaims(claims: TokenClaims): Promise<TokenClaims> {
    const key = `${claims.userId}/${claims.project?.id ?? ''}`;
    const now = Date.now();
    let hit = this.recentChecks.get(key);
    if (!hit || hit.at + CLAIMS_CACHE_MS <= now) {
      if (this.recentChecks.size >= 10_000) this.recentChecks.clear();
      hit = { at: now, roles: this.currentRoles(claims) };
      this.recentChecks.set(key, hit);
      hit.roles.catch(() => this.recentChecks.delete(key));
    }
    const roles = await hit.roles;
    return roles === null ? claims : { ...claims, roles };
  }

  /** Revokes a user's tokens everywhere and forgets this process's recent checks. */
  private revokeUser(userId: string): Promise<void> {
    this.recentChecks.clear();
    return this.deps.tokens.revokeUser(userId);
  }

  /**
   * The roles the token's user has now on its project (null for an unscoped token). Every
   * change that takes access away also revokes the user's tokens through the cache, which
   * every request checks first; this database check is the second line, reused for a moment.
   */
  private async currentRoles(claims: TokenClaims): Promise<RoleRef[] | null> {
    await this.activeUser(claims.userId);
    if (!claims.project) return null;
    const project = await this.db.getRepository(ProjectEntity).findOneBy({ id: claims.project.id });
    if (!project || !project.enabled) throw unauthorized('The token is invalid or has expired.');
    const roles = await this.rolesOn(claims.userId, project.id);
    if (roles.length === 0) throw unauthorized('The token is invalid or has expired.');
    return roles;
  }

  /** GET /v3/auth/tokens: the subject token, verified and current, or NotFound. */
  async validateToken(subjectToken: string): Promise<TokenClaims> {
    try {
      return await this.currentClaims(await this.deps.tokens.verify(subjectToken));
    } catch (err) {
      if ((err as AppError).kind === 'Unavailable') throw err;
      throw notFound('Could not find token.');
    }
  }

  async revokeToken(claims: TokenClaims): Promise<void> {
    await this.deps.tokens.revoke(claims);
  }

  private async activeUser(userId: string): Promise<UserRow> {
    const user = await this.db.getRepository(UserEntity).findOneBy({ id: userId });
    if (!user || !user.enabled) throw unauthorized('The token is invalid or has expired.');
    const domain = await this.db.getRepository(DomainEntity).findOneBy({ id: user.domainId });
    if (!domain || !domain.enabled) throw unauthorized('The token is invalid or has expired.');
    return user;
  }

  private async checkPassword(ref: NonNullable<AuthRequest['password']>['user']): Promise<UserRow> {
    let user: UserRow | null;
    if (ref.id !== undefined) {
      user = await this.db.getRepository(UserEntity).findOneBy({ id: ref.id });
    } else if (ref.name !== undefined) {
      if (!ref.domain) throw invalid('Expecting to find domain in user.');
      const domain = await this.findDomain(ref.domain);
      user = domain
        ? await this.db.getRepository(UserEntity).findOneBy({ name: ref.name, domainId: domain.id })
        : null;
    } else {
      throw invalid('Expecting to find id or name in user.');
    }
    // Hash even for an unknown user, so timing does not tell which users exist.
    const ok = await verifyPassword(ref.password, user?.passwordHash ?? (await this.dummy()));
    if (!user || !user.passwordHash || !ok || !user.enabled) throw unauthorized();
    const domain = await this.db.getRepository(DomainEntity).findOneBy({ id: user.domainId });
    if (!domain?.enabled) throw unauthorized();
    return user;
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= hashPassword(newId());
    return this.dummyHash;
  }

  private async scopeProject(scope: Extract<AuthRequest['scope'], { kind: 'project' }>): Promise<Project> {
    let project: Project | null;
    if (scope.id !== undefined) {
      project = await this.db.getRepository(ProjectEntity).findOneBy({ id: scope.id });
    } else if (scope.name !== undefined) {
      if (!scope.domain) throw invalid('Expecting to find domain in project.');
      const domain = await this.findDomain(scope.domain);
      project = domain
        ? await this.db.getRepository(ProjectEntity).findOneBy({ name: scope.name, domainId: domain.id })
        : null;
    } else {
      throw invalid('Expecting to find id or name in project.');
    }
    if (!project) throw unauthorized();
    const domain = await this.db.getRepository(DomainEntity).findOneBy({ id: project.domainId });
    if (!project.enabled || !domain?.enabled) throw unauthorized();
    return project;
  }

  private async findDomain(ref: DomainRef): Promise<Domain | null> {
    const repo = this.db.getRepository(DomainEntity);
    if (ref.id !== undefined) return repo.findOneBy({ id: ref.id });
    if (ref.name !== undefined) return repo.findOneBy({ name: ref.name });
    throw invalid('Expecting to find id or name in domain.');
  }

  /** The user's roles on a project, by name order. */
  async rolesOn(userId: string, projectId: string): Promise<RoleRef[]> {
    const rows = await this.db.getRepository(AssignmentEntity).findBy({ userId, projectId });
    if (rows.length === 0) return [];
    const roles = await this.db.getRepository(RoleEntity).findBy({ id: In(rows.map((r) => r.roleId)) });
    return roles.map((r) => ({ id: r.id, name: r.name })).sort((a, b) => a.name.localeCompare(b.name));
  }

  // ---------------------------------------------------------------- catalog

  /** The catalog as a token for this project sees it (URLs needing a project left out when unscoped). */
  async catalogFor(projectId: string | null): Promise<CatalogEntry[]> {
    const now = Date.now();
    if (!this.catalogRows || this.catalogRows.at + CATALOG_CACHE_MS <= now) {
      this.catalogRows = { at: now, rows: this.loadCatalogRows() };
      this.catalogRows.rows.catch(() => (this.catalogRows = null));
    }
    const [services, endpoints] = await this.catalogRows.rows;
    const order = new Map(this.deps.catalog.services.map((s, i) => [s.type, i]));
    const rank = (s: ServiceRow) => order.get(s.type) ?? order.size;
    const sorted = [...services].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
    const ifaceRank = (e: EndpointRow) => ENDPOINT_INTERFACES.indexOf(e.interface as 'public');
    return sorted.map((service) => ({
      endpoints: endpoints
        .filter((e) => e.serviceId === service.id)
        .sort((a, b) => ifaceRank(a) - ifaceRank(b) || a.region.localeCompare(b.region))
        .flatMap((e) => {
          const url = endpointUrl(e.url, projectId);
          return url === null
            ? []
            : [{ id: e.id, interface: e.interface, region_id: e.region, url, region: e.region }];
        }),
      id: service.id,
      type: service.type,
      name: service.name,
    }));
  }

  /** Services and endpoints change only through bootstrap/syncCatalog; cached briefly. */
  private loadCatalogRows(): Promise<[ServiceRow[], EndpointRow[]]> {
    return Promise.all([
      this.db.getRepository(ServiceEntity).findBy({ enabled: true }),
      this.db.getRepository(EndpointEntity).findBy({ enabled: true }),
    ]);
  }

  async listServices(): Promise<ServiceRow[]> {
    return this.db.getRepository(ServiceEntity).find({ order: { type: 'ASC', name: 'ASC' } });
  }

  async listEndpoints(): Promise<EndpointRow[]> {
    return this.db.getRepository(EndpointEntity).find({ order: { serviceId: 'ASC', interface: 'ASC' } });
  }

  /**
   * Makes the stored catalog match the spec: creates missing services and endpoints and
   * corrects endpoint URLs that changed. Returns what it did, for bootstrap's report.
   */
  async syncCatalog(spec: CatalogSpec = this.deps.catalog): Promise<string[]> {
    try {
      return await this.syncCatalogOnce(spec);
    } catch (err) {
      // Another process synced the same entries at the same moment: a Conflict, worth a retry.
      if (isUniqueViolation(err)) throw conflict('The catalog was changed concurrently.');
      throw err;
    } finally {
      this.catalogRows = null;
    }
  }

  private syncCatalogOnce(spec: CatalogSpec): Promise<string[]> {
    return this.write(async (em) => {
      const done: string[] = [];
      const services = em.getRepository(ServiceEntity);
      const endpoints = em.getRepository(EndpointEntity);
      for (const s of spec.services) {
        let service = await services.findOneBy({ type: s.type, name: s.name });
        if (!service) {
          service = { id: newId(), type: s.type, name: s.name, enabled: true };
          await services.insert(service);
          done.push(`service ${s.name} (${s.type})`);
        }
        for (const iface of ENDPOINT_INTERFACES) {
          const url = s.urls[iface];
          const existing = await endpoints.findOneBy({
            serviceId: service.id,
            interface: iface,
            region: spec.region,
          });
          if (!existing) {
            await endpoints.insert({
              id: newId(),
              serviceId: service.id,
              interface: iface,
              region: spec.region,
              url,
              enabled: true,
            });
            done.push(`endpoint ${s.name} ${iface} ${url}`);
          } else if (existing.url !== url) {
            await endpoints.update({ id: existing.id }, { url });
            done.push(`endpoint ${s.name} ${iface} updated to ${url}`);
          }
        }
      }
      return done;
    });
  }

  // ---------------------------------------------------------------- domains

  async listDomains(
    filter: { name?: string | undefined; enabled?: boolean | undefined } = {},
  ): Promise<Domain[]> {
    return this.db.getRepository(DomainEntity).find({ where: defined(filter), order: { name: 'ASC' } });
  }

  async getDomain(id: string): Promise<Domain> {
    return this.domainById(id, `Could not find domain: ${id}.`);
  }

  private async domainById(id: string, message = `Could not find domain: ${id}.`): Promise<Domain> {
    const domain = await this.db.getRepository(DomainEntity).findOneBy({ id });
    if (!domain) throw notFound(message);
    return domain;
  }

  // ---------------------------------------------------------------- projects

  async createProject(input: ProjectInput): Promise<Project> {
    const domainId = input.domainId ?? DEFAULT_DOMAIN_ID;
    await this.domainById(domainId);
    let parentId: string | null = null;
    if (input.parentId && input.parentId !== domainId) {
      const parent = await this.getProject(input.parentId);
      if (parent.domainId !== domainId) throw invalid('A project must be in the same domain as its parent.');
      parentId = parent.id;
    }
    const project: Project = {
      id: newId(),
      name: input.name,
      domainId,
      parentId,
      description: input.description ?? '',
      enabled: input.enabled ?? true,
      tags: input.tags ?? [],
      extra: input.extra ?? {},
    };
    await this.insertUnique(
      () => this.write((em) => em.getRepository(ProjectEntity).insert(asRow(project))),
      `Conflict occurred attempting to store project - Duplicate entry found with name ${project.name} at domain ID ${domainId}.`,
    );
    this.deps.log.info({ projectId: project.id }, 'project created');
    return project;
  }

  async listProjects(
    filter: {
      name?: string | undefined;
      domainId?: string | undefined;
      enabled?: boolean | undefined;
      parentId?: string | undefined;
    } = {},
  ): Promise<Project[]> {
    const where = defined({ name: filter.name, domainId: filter.domainId, enabled: filter.enabled });
    const projects = await this.db.getRepository(ProjectEntity).find({ where, order: { name: 'ASC' } });
    if (filter.parentId === undefined) return projects;
    return projects.filter((p) => (p.parentId ?? p.domainId) === filter.parentId);
  }

  async getProject(id: string): Promise<Project> {
    const project = await this.db.getRepository(ProjectEntity).findOneBy({ id });
    if (!project) throw notFound(`Could not find project: ${id}.`);
    return project;
  }

  async updateProject(id: string, patch: ProjectPatch): Promise<Project> {
    const project = await this.getProject(id);
    const next: Project = {
      ...project,
      ...defined({ name: patch.name, enabled: patch.enabled, tags: patch.tags }),
      description: patch.description === undefined ? project.description : (patch.description ?? ''),
      extra: patch.extra ? { ...project.extra, ...patch.extra } : project.extra,
    };
    await this.insertUnique(
      () => this.write((em) => em.getRepository(ProjectEntity).update({ id }, asPatch(next))),
      `Conflict occurred attempting to store project - Duplicate entry found with name ${next.name} at domain ID ${next.domainId}.`,
    );
    if (project.enabled && !next.enabled) await this.revokeMembers(id);
    return next;
  }

  async deleteProject(id: string): Promise<void> {
    const project = await this.getProject(id);
    const members = await this.write(async (em) => {
      const children = await em.getRepository(ProjectEntity).countBy({ parentId: project.id });
      if (children > 0) {
        throw forbidden(`Cannot delete the project ${id} since it is not a leaf in the hierarchy.`);
      }
      const assignments = await em.getRepository(AssignmentEntity).findBy({ projectId: id });
      await em.getRepository(AssignmentEntity).delete({ projectId: id });
      await em.getRepository(Ec2CredentialEntity).delete({ projectId: id });
      await em.getRepository(ProjectEntity).delete({ id });
      return [...new Set(assignments.map((a) => a.userId))];
    });
    await Promise.all(members.map((u) => this.revokeUser(u)));
    this.deps.log.info({ projectId: id }, 'project deleted');
  }

  /** Projects the user has a role on (enabledOnly for /v3/auth/projects). */
  async listUserProjects(userId: string, enabledOnly = false): Promise<Project[]> {
    const rows = await this.db.getRepository(AssignmentEntity).findBy({ userId });
    if (rows.length === 0) return [];
    const ids = [...new Set(rows.map((r) => r.projectId))];
    const where = enabledOnly ? { id: In(ids), enabled: true } : { id: In(ids) };
    return this.db.getRepository(ProjectEntity).find({ where, order: { name: 'ASC' } });
  }

  private async revokeMembers(projectId: string): Promise<void> {
    const rows = await this.db.getRepository(AssignmentEntity).findBy({ projectId });
    await Promise.all([...new Set(rows.map((r) => r.userId))].map((u) => this.revokeUser(u)));
  }

  // ---------------------------------------------------------------- users

  async createUser(input: UserInput): Promise<User> {
    const domainId = input.domainId ?? DEFAULT_DOMAIN_ID;
    await this.domainById(domainId);
    const row: UserRow = {
      id: newId(),
      name: input.name,
      domainId,
      passwordHash: typeof input.password === 'string' ? await hashPassword(input.password) : null,
      enabled: input.enabled ?? true,
      defaultProjectId: input.defaultProjectId ?? null,
      extra: input.extra ?? {},
    };
    await this.insertUnique(
      () => this.write((em) => em.getRepository(UserEntity).insert(asRow(row))),
      `Conflict occurred attempting to store user - Duplicate entry found with name ${row.name} at domain ID ${domainId}.`,
    );
    this.deps.log.info({ userId: row.id }, 'user created');
    return withoutHash(row);
  }

  async listUsers(
    filter: { name?: string | undefined; domainId?: string | undefined; enabled?: boolean | undefined } = {},
  ): Promise<User[]> {
    const rows = await this.db
      .getRepository(UserEntity)
      .find({ where: defined(filter), order: { name: 'ASC' } });
    return rows.map(withoutHash);
  }

  async getUser(id: string): Promise<User> {
    return withoutHash(await this.userRow(id));
  }

  private async userRow(id: string): Promise<UserRow> {
    const user = await this.db.getRepository(UserEntity).findOneBy({ id });
    if (!user) throw notFound(`Could not find user: ${id}.`);
    return user;
  }

  async updateUser(id: string, patch: UserPatch): Promise<User> {
    const row = await this.userRow(id);
    const next: UserRow = {
      ...row,
      ...defined({ name: patch.name, enabled: patch.enabled }),
      defaultProjectId: patch.defaultProjectId === undefined ? row.defaultProjectId : patch.defaultProjectId,
      extra: patch.extra ? { ...row.extra, ...patch.extra } : row.extra,
    };
    if (patch.password !== undefined) {
      next.passwordHash = patch.password === null ? null : await hashPassword(patch.password);
    }
    await this.insertUnique(
      () => this.write((em) => em.getRepository(UserEntity).update({ id }, asPatch(next))),
      `Conflict occurred attempting to store user - Duplicate entry found with name ${next.name} at domain ID ${next.domainId}.`,
    );
    if ((row.enabled && !next.enabled) || patch.password !== undefined) {
      await this.revokeUser(id);
    }
    return withoutHash(next);
  }

  /** True when the user has this password (bootstrap uses it to leave a right password alone). */
  async passwordMatches(id: string, password: string): Promise<boolean> {
    const row = await this.userRow(id);
    return !!row.passwordHash && (await verifyPassword(password, row.passwordHash));
  }

  /** A user changing its own password: the original must match. Revokes its tokens. */
  async changePassword(id: string, original: string, password: string): Promise<void> {
    const row = await this.userRow(id);
    if (!row.passwordHash || !(await verifyPassword(original, row.passwordHash))) throw unauthorized();
    const passwordHash = await hashPassword(password);
    await this.write((em) => em.getRepository(UserEntity).update({ id }, { passwordHash }));
    await this.revokeUser(id);
  }

  async deleteUser(id: string): Promise<void> {
    await this.userRow(id);
    await this.write(async (em) => {
      await em.getRepository(AssignmentEntity).delete({ userId: id });
      await em.getRepository(Ec2CredentialEntity).delete({ userId: id });
      await em.getRepository(UserEntity).delete({ id });
    });
    await this.revokeUser(id);
    this.deps.log.info({ userId: id }, 'user deleted');
  }

  // ---------------------------------------------------------------- roles

  async createRole(input: RoleInput): Promise<Role> {
    const role: Role = {
      id: newId(),
      name: input.name,
      description: input.description ?? null,
      extra: input.extra ?? {},
    };
    await this.insertUnique(
      () => this.write((em) => em.getRepository(RoleEntity).insert(asRow(role))),
      `Conflict occurred attempting to store role - Duplicate entry found with name ${role.name}.`,
    );
    return role;
  }

  async listRoles(filter: { name?: string | undefined } = {}): Promise<Role[]> {
    return this.db.getRepository(RoleEntity).find({ where: defined(filter), order: { name: 'ASC' } });
  }

  async getRole(id: string): Promise<Role> {
    const role = await this.db.getRepository(RoleEntity).findOneBy({ id });
    if (!role) throw notFound(`Could not find role: ${id}.`);
    return role;
  }

  async updateRole(id: string, patch: RolePatch): Promise<Role> {
    const role = await this.getRole(id);
    const next: Role = {
      ...role,
      ...defined({ name: patch.name }),
      description: patch.description === undefined ? role.description : patch.description,
      extra: patch.extra ? { ...role.extra, ...patch.extra } : role.extra,
    };
    await this.insertUnique(
      () => this.write((em) => em.getRepository(RoleEntity).update({ id }, asPatch(next))),
      `Conflict occurred attempting to store role - Duplicate entry found with name ${next.name}.`,
    );
    return next;
  }

  async deleteRole(id: string): Promise<void> {
    await this.getRole(id);
    const users = await this.write(async (em) => {
      const rows = await em.getRepository(AssignmentEntity).findBy({ roleId: id });
      await em.getRepository(AssignmentEntity).delete({ roleId: id });
      await em.getRepository(RoleEntity).delete({ id });
      return [...new Set(rows.map((r) => r.userId))];
    });
    await Promise.all(users.map((u) => this.revokeUser(u)));
  }

  // ---------------------------------------------------------------- role assignments

  /** Grants a role to a user on a project (idempotent). */
  async grant(projectId: string, userId: string, roleId: string): Promise<void> {
    await Promise.all([this.getProject(projectId), this.getUser(userId), this.getRole(roleId)]);
    try {
      await this.write(async (em) => {
        const repo = em.getRepository(AssignmentEntity);
        if (!(await repo.findOneBy({ projectId, userId, roleId })))
          await repo.insert({ projectId, userId, roleId });
      });
    } catch (err) {
      // A concurrent grant of the same role won the race: the grant exists, as asked.
      if (!isUniqueViolation(err)) throw err;
    }
  }

  /** Throws NotFound unless the grant exists. */
  async checkGrant(projectId: string, userId: string, roleId: string): Promise<void> {
    await Promise.all([this.getProject(projectId), this.getUser(userId), this.getRole(roleId)]);
    const found = await this.db.getRepository(AssignmentEntity).findOneBy({ projectId, userId, roleId });
    if (!found)
      throw notFound(
        `Could not find role assignment with role: ${roleId}, user or group: ${userId}, project, domain, or system: ${projectId}.`,
      );
  }

  /** Removes a grant; the user's tokens are revoked (they may carry the role). */
  async revokeGrant(projectId: string, userId: string, roleId: string): Promise<void> {
    await this.checkGrant(projectId, userId, roleId);
    await this.write((em) => em.getRepository(AssignmentEntity).delete({ projectId, userId, roleId }));
    await this.revokeUser(userId);
  }

  async listGrants(projectId: string, userId: string): Promise<Role[]> {
    await Promise.all([this.getProject(projectId), this.getUser(userId)]);
    const rows = await this.db.getRepository(AssignmentEntity).findBy({ projectId, userId });
    if (rows.length === 0) return [];
    return this.db
      .getRepository(RoleEntity)
      .find({ where: { id: In(rows.map((r) => r.roleId)) }, order: { name: 'ASC' } });
  }

  async listAssignments(
    filter: { userId?: string | undefined; projectId?: string | undefined; roleId?: string | undefined } = {},
  ): Promise<Assignment[]> {
    return this.db.getRepository(AssignmentEntity).find({
      where: defined(filter),
      order: { projectId: 'ASC', userId: 'ASC', roleId: 'ASC' },
    });
  }

  async nameAssignments(assignments: Assignment[]): Promise<NamedAssignment[]> {
    if (assignments.length === 0) return [];
    const uniq = (xs: string[]) => [...new Set(xs)];
    const [users, projects, roles] = await Promise.all([
      this.db.getRepository(UserEntity).findBy({ id: In(uniq(assignments.map((a) => a.userId))) }),
      this.db.getRepository(ProjectEntity).findBy({ id: In(uniq(assignments.map((a) => a.projectId))) }),
      this.db.getRepository(RoleEntity).findBy({ id: In(uniq(assignments.map((a) => a.roleId))) }),
    ]);
    const byId = <T extends { id: string }>(xs: T[]) => new Map(xs.map((x) => [x.id, x]));
    const [u, p, r] = [byId(users), byId(projects), byId(roles)];
    return assignments.flatMap((a) => {
      const user = u.get(a.userId);
      const project = p.get(a.projectId);
      const role = r.get(a.roleId);
      if (!user || !project || !role) return [];
      return [
        {
          ...a,
          userName: user.name,
          userDomainId: user.domainId,
          projectName: project.name,
          projectDomainId: project.domainId,
          roleName: role.name,
        },
      ];
    });
  }

  // ---------------------------------------------------------------- EC2 credentials

  async createEc2Credential(userId: string, projectId: string): Promise<Ec2Credential> {
    const box = this.secretBox();
    await Promise.all([this.getUser(userId), this.getProject(projectId)]);
    const credential: Ec2Credential = { access: newId(), secret: newId(), userId, projectId };
    const secretBlob = box.seal(credential.secret);
    await this.write((em) =>
      em
        .getRepository(Ec2CredentialEntity)
        .insert({ access: credential.access, userId, projectId, secretBlob }),
    );
    this.deps.log.info({ userId, projectId, access: credential.access }, 'EC2 credential created');
    return credential;
  }

  async listEc2Credentials(filter: { userId?: string | undefined } = {}): Promise<Ec2Credential[]> {
    const rows = await this.db
      .getRepository(Ec2CredentialEntity)
      .find({ where: defined(filter), order: { access: 'ASC' } });
    const box = this.secretBox();
    return rows.map((r) => ({
      access: r.access,
      secret: box.open(r.secretBlob) ?? '',
      userId: r.userId,
      projectId: r.projectId,
    }));
  }

  async getEc2Credential(userId: string, access: string): Promise<Ec2Credential> {
    const row = await this.db.getRepository(Ec2CredentialEntity).findOneBy({ access, userId });
    if (!row) throw notFound(`Could not find credential: ${access}.`);
    return { access, secret: this.secretBox().open(row.secretBlob) ?? '', userId, projectId: row.projectId };
  }

  async deleteEc2Credential(userId: string, access: string): Promise<void> {
    await this.getEc2Credential(userId, access);
    await this.write((em) => em.getRepository(Ec2CredentialEntity).delete({ access, userId }));
  }

  /**
   * For object storage's S3 API: the secret and the identity behind an access key. Unknown
   * keys, disabled users or projects and users without a role on the project: Unauthorized.
   */
  async ec2Lookup(access: string): Promise<Ec2Identity> {
    const row = await this.db.getRepository(Ec2CredentialEntity).findOneBy({ access });
    const secret = row ? this.secretBox().open(row.secretBlob) : null;
    if (!row || secret === null) throw unauthorized('The EC2 credential is not valid.');
    const [user, project] = await Promise.all([
      this.db.getRepository(UserEntity).findOneBy({ id: row.userId }),
      this.db.getRepository(ProjectEntity).findOneBy({ id: row.projectId }),
    ]);
    if (!user?.enabled || !project?.enabled) throw unauthorized('The EC2 credential is not valid.');
    const roles = await this.rolesOn(user.id, project.id);
    if (roles.length === 0) throw unauthorized('The EC2 credential is not valid.');
    return {
      secret,
      userId: user.id,
      userName: user.name,
      projectId: project.id,
      projectName: project.name,
      roles,
    };
  }

  private secretBox(): SecretBox {
    if (!this.box) throw new AppError('NotImplemented', 'EC2 credentials are not configured.');
    return this.box;
  }

  // ---------------------------------------------------------------- helpers

  /** Every write runs in a transaction (serialised on SQLite, whose one connection they share). */
  private write<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    return inTransaction(this.db, fn);
  }

  /** Runs a write; a unique-constraint violation (also from a concurrent writer) is a Conflict. */
  private async insertUnique(write: () => Promise<unknown>, message: string): Promise<void> {
    try {
      await write();
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(message);
      throw err;
    }
  }
}

/** Drops undefined fields (typeorm would otherwise match them as NULL or ignore them unevenly). */
function defined<T extends Record<string, unknown>>(obj: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
