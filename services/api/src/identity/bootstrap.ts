/**
 * Like `keystone-manage bootstrap`: makes sure the roles admin, member and reader exist, the
 * admin project and user exist (the password is reset when it no longer matches), the admin
 * user holds all three roles on the admin project, and the catalog matches configuration.
 * Idempotent, and safe when several processes run it at once (a lost race is retried).
 */
import type { IdentityService } from './identity.service';
import { DEFAULT_DOMAIN_ID } from './model';

export interface BootstrapOptions {
  adminUser: string;
  adminProject: string;
  adminPassword: string;
  region: string;
}

export interface BootstrapReport {
  adminUserId: string;
  adminProjectId: string;
  /** What this run created or changed (empty when everything was already in place). */
  created: string[];
}

export const BOOTSTRAP_ROLES = ['admin', 'member', 'reader'] as const;
const MAX_ATTEMPTS = 30;

export async function bootstrapIdentity(
  identity: IdentityService,
  options: BootstrapOptions,
): Promise<BootstrapReport> {
  // A Conflict means a concurrent bootstrap created that row first: run again and find it.
  // Each conflict is progress by the other run, so the bound is the number of rows it makes.
  for (let attempt = 1; ; attempt++) {
    try {
      return await bootstrapOnce(identity, options);
    } catch (err) {
      if ((err as { kind?: string }).kind !== 'Conflict' || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}

async function bootstrapOnce(identity: IdentityService, options: BootstrapOptions): Promise<BootstrapReport> {
  const created: string[] = [];
  const roleIds: string[] = [];
  for (const name of BOOTSTRAP_ROLES) {
    let role = (await identity.listRoles({ name }))[0];
    if (!role) {
      role = await identity.createRole({ name });
      created.push(`role ${name}`);
    }
    roleIds.push(role.id);
  }

  let project = (await identity.listProjects({ name: options.adminProject, domainId: DEFAULT_DOMAIN_ID }))[0];
  if (!project) {
    project = await identity.createProject({
      name: options.adminProject,
      domainId: DEFAULT_DOMAIN_ID,
      description: 'Bootstrap project for initializing the cloud.',
    });
    created.push(`project ${project.name}`);
  } else if (!project.enabled) {
    project = await identity.updateProject(project.id, { enabled: true });
    created.push(`project ${project.name} enabled`);
  }

  let user = (await identity.listUsers({ name: options.adminUser, domainId: DEFAULT_DOMAIN_ID }))[0];
  if (!user) {
    user = await identity.createUser({
      name: options.adminUser,
      domainId: DEFAULT_DOMAIN_ID,
      password: options.adminPassword,
      defaultProjectId: project.id,
    });
    created.push(`user ${user.name}`);
  } else {
    if (!user.enabled) {
      await identity.updateUser(user.id, { enabled: true });
      created.push(`user ${user.name} enabled`);
    }
    if (!(await identity.passwordMatches(user.id, options.adminPassword))) {
      await identity.updateUser(user.id, { password: options.adminPassword });
      created.push(`user ${user.name} password reset`);
    }
  }

  const held = new Set(
    (await identity.listAssignments({ userId: user.id, projectId: project.id })).map((a) => a.roleId),
  );
  for (const [i, roleId] of roleIds.entries()) {
    if (held.has(roleId)) continue;
    await identity.grant(project.id, user.id, roleId);
    created.push(`role ${BOOTSTRAP_ROLES[i]} for user ${user.name} on project ${project.name}`);
  }

  created.push(...(await identity.syncCatalog({ ...identity.catalogSpec, region: options.region })));
  return { adminUserId: user.id, adminProjectId: project.id, created };
}
