/**
 * Identity v3 over HTTP, as Keystone serves it to openstackclient and openstacksdk: version
 * discovery, tokens, the catalog, projects, users, roles, grants, role assignments, domains
 * and EC2 credentials. Parses and authorises, calls IdentityService, renders with
 * IdentityViews; errors go to the service's Keystone fault middleware.
 *
 * Policy (Keystone's defaults, simplified): the admin role (on any project) may do anything;
 * others may read themselves, their token's project and their own credentials.
 */
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { isAdmin, hasRole, requireAuth, type TokenClaims, type TokenService } from '@strato/auth';
import { AppError, forbidden, invalid, toAppError, unauthorized } from '@strato/errors';
import { route } from '@strato/http';
import type { IdentityService } from '../identity.service';
import type { Domain } from '../model';
import {
  authBody,
  ec2CreateBody,
  parseBody,
  passwordChangeBody,
  projectCreateBody,
  projectExtra,
  projectUpdateBody,
  roleCreateBody,
  roleExtra,
  roleUpdateBody,
  toAuthRequest,
  userCreateBody,
  userExtra,
  userUpdateBody,
} from './schemas';
import { IdentityViews } from './views';

export interface IdentityRouterDeps {
  identity: IdentityService;
  tokens: TokenService;
  /** IDENTITY_PUBLIC_URL, e.g. http://127.0.0.1:5000/v3/: the base of every link. */
  publicUrl: string;
}

/** A query parameter as one string (the first, if repeated). */
function query(req: Request, name: string): string | undefined {
  const v: unknown = (req.query as Record<string, unknown>)[name];
  const first: unknown = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : undefined;
}

/** Keystone's truthiness of a query flag: present and not "0"/"false". */
function flag(req: Request, name: string): boolean {
  const v = query(req, name);
  return v !== undefined && !['0', 'false'].includes(v.toLowerCase());
}

function boolFilter(req: Request, name: string): boolean | undefined {
  return query(req, name) === undefined ? undefined : flag(req, name);
}

function param(req: Request, name: string): string {
  const v = req.params[name];
  if (typeof v !== 'string') throw invalid(`Missing ${name}.`);
  return v;
}

function requireSelfOrAdmin(req: Request, userId: string): TokenClaims {
  const claims = requireAuth(req);
  if (!isAdmin(claims) && claims.userId !== userId) throw forbidden();
  return claims;
}

function requireAdmin(req: Request): TokenClaims {
  const claims = requireAuth(req);
  if (!isAdmin(claims)) throw forbidden();
  return claims;
}

export function identityRouter(deps: IdentityRouterDeps): Router {
  const { identity, tokens } = deps;
  const views = new IdentityViews(deps.publicUrl);
  const router = Router();

  /**
   * X-Auth-Token verified (signature, expiry, revocation) and checked against the current
   * state (user and project enabled, roles still held). Any failure: Keystone's plain 401.
   */
  const authed: RequestHandler = (req, _res, next) => {
    const token = req.header('x-auth-token');
    if (!token) {
      next(unauthorized());
      return;
    }
    tokens
      .verify(token)
      .then((claims) => identity.currentClaims(claims))
      .then(
        (claims) => {
          req.auth = claims;
          next();
        },
        (err: unknown) => {
          const e = toAppError(err);
          next(e.kind === 'Unauthorized' ? unauthorized() : e);
        },
      );
  };

  router.use((_req, res, next) => {
    res.vary('X-Auth-Token');
    next();
  });

  // ------------------------------------------------------------ version discovery
  router.get('/', (_req, res) => {
    res
      .status(300)
      .location(views.base)
      .json({ versions: { values: [views.version()] } });
  });
  router.get('/v3', (_req, res) => {
    res.json({ version: views.version() });
  });

  // ------------------------------------------------------------ tokens
  router.post(
    '/v3/auth/tokens',
    route(async (req, res) => {
      const request = toAuthRequest(parseBody(authBody, req.body));
      const { token, claims } = await identity.issueToken(request);
      const catalog =
        claims.project && !flag(req, 'nocatalog') ? await identity.catalogFor(claims.project.id) : null;
      res.status(201).setHeader('X-Subject-Token', token);
      res.json(views.token(claims, catalog));
    }),
  );

  const subject = async (req: Request): Promise<TokenClaims> => {
    const caller = requireAuth(req);
    const token = req.header('x-subject-token');
    if (!token) throw invalid('Expecting to find X-Subject-Token in the request headers.');
    const claims = await identity.validateToken(token);
    if (!isAdmin(caller) && !hasRole(caller, 'service') && caller.userId !== claims.userId) throw forbidden();
    return claims;
  };

  router.get(
    '/v3/auth/tokens',
    authed,
    route(async (req, res) => {
      const claims = await subject(req);
      const catalog =
        claims.project && !flag(req, 'nocatalog') ? await identity.catalogFor(claims.project.id) : null;
      res.setHeader('X-Subject-Token', req.header('x-subject-token')!);
      res.json(views.token(claims, catalog));
    }),
  );
  router.delete(
    '/v3/auth/tokens',
    authed,
    route(async (req, res) => {
      await identity.revokeToken(await subject(req));
      res.status(204).end();
    }),
  );

  router.get(
    '/v3/auth/catalog',
    authed,
    route(async (req, res) => {
      const claims = requireAuth(req);
      if (!claims.project)
        throw forbidden('A project-scoped token is required to produce a service catalog.');
      res.json({
        catalog: await identity.catalogFor(claims.project.id),
        links: { self: `${views.base}auth/catalog`, previous: null, next: null },
      });
    }),
  );
  router.get(
    '/v3/auth/projects',
    authed,
    route(async (req, res) => {
      const projects = await identity.listUserProjects(requireAuth(req).userId, true);
      res.json(
        views.list(
          'projects',
          'auth/projects',
          projects.map((p) => views.project(p)),
        ),
      );
    }),
  );
  router.get('/v3/auth/domains', authed, (_req, res) => {
    // Roles are only ever granted on projects, so no user holds a domain-scoped role.
    res.json(views.list('domains', 'auth/domains', []));
  });

  // ------------------------------------------------------------ domains
  router.get(
    '/v3/domains',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const domains = await identity.listDomains({
        name: query(req, 'name'),
        enabled: boolFilter(req, 'enabled'),
      });
      res.json(
        views.list(
          'domains',
          'domains',
          domains.map((d) => views.domain(d)),
        ),
      );
    }),
  );
  router.get(
    '/v3/domains/:domainId',
    authed,
    route(async (req, res) => {
      const claims = requireAuth(req);
      const id = param(req, 'domainId');
      if (!isAdmin(claims) && claims.project?.domainId !== id && claims.userDomainId !== id)
        throw forbidden();
      res.json({ domain: views.domain(await identity.getDomain(id)) });
    }),
  );

  // ------------------------------------------------------------ projects
  router.post(
    '/v3/projects',
    authed,
    route(async (req, res) => {
      const claims = requireAdmin(req);
      const { project: body } = parseBody(projectCreateBody, req.body);
      if (body.is_domain) throw invalid('Projects acting as domains are not supported.');
      const project = await identity.createProject({
        name: body.name,
        domainId: body.domain_id ?? claims.project?.domainId ?? claims.userDomainId,
        parentId: body.parent_id,
        description: body.description,
        enabled: body.enabled,
        tags: body.tags,
        extra: projectExtra(body),
      });
      res.status(201).json({ project: views.project(project) });
    }),
  );
  router.get(
    '/v3/projects',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const projects = await identity.listProjects({
        name: query(req, 'name'),
        domainId: query(req, 'domain_id'),
        enabled: boolFilter(req, 'enabled'),
        parentId: query(req, 'parent_id'),
      });
      res.json(
        views.list(
          'projects',
          'projects',
          projects.map((p) => views.project(p)),
        ),
      );
    }),
  );
  router.get(
    '/v3/projects/:projectId',
    authed,
    route(async (req, res) => {
      const claims = requireAuth(req);
      const id = param(req, 'projectId');
      if (!isAdmin(claims) && claims.project?.id !== id) throw forbidden();
      res.json({ project: views.project(await identity.getProject(id)) });
    }),
  );
  router.patch(
    '/v3/projects/:projectId',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const id = param(req, 'projectId');
      const { project: body } = parseBody(projectUpdateBody, req.body);
      const current = await identity.getProject(id);
      if (body.domain_id !== undefined && body.domain_id !== current.domainId) {
        throw invalid('Update of `domain_id` is not allowed.');
      }
      if (body.parent_id !== undefined && body.parent_id !== (current.parentId ?? current.domainId)) {
        throw forbidden('Update of `parent_id` is not allowed.');
      }
      if (body.is_domain === true) throw invalid('Update of `is_domain` is not allowed.');
      const extra = projectExtra(body);
      const project = await identity.updateProject(id, {
        name: body.name,
        description: body.description,
        enabled: body.enabled,
        tags: body.tags,
        extra: Object.keys(extra).length > 0 ? extra : undefined,
      });
      res.json({ project: views.project(project) });
    }),
  );
  router.delete(
    '/v3/projects/:projectId',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      await identity.deleteProject(param(req, 'projectId'));
      res.status(204).end();
    }),
  );

  // ------------------------------------------------------------ grants
  const grantPath = '/v3/projects/:projectId/users/:userId/roles/:roleId';
  const grantIds = (req: Request) =>
    [param(req, 'projectId'), param(req, 'userId'), param(req, 'roleId')] as const;
  router.put(
    grantPath,
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      await identity.grant(...grantIds(req));
      res.status(204).end();
    }),
  );
  const checkGrant = route(async (req, res) => {
    requireAdmin(req);
    await identity.checkGrant(...grantIds(req));
    res.status(204).end();
  });
  router.head(grantPath, authed, checkGrant);
  router.get(grantPath, authed, checkGrant);
  router.delete(
    grantPath,
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      await identity.revokeGrant(...grantIds(req));
      res.status(204).end();
    }),
  );
  router.get(
    '/v3/projects/:projectId/users/:userId/roles',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const projectId = param(req, 'projectId');
      const userId = param(req, 'userId');
      const roles = await identity.listGrants(projectId, userId);
      res.json(
        views.list(
          'roles',
          `projects/${projectId}/users/${userId}/roles`,
          roles.map((r) => views.role(r)),
        ),
      );
    }),
  );

  router.get(
    '/v3/role_assignments',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      // Only user roles on projects exist: group, domain and system filters match nothing.
      const none = ['group.id', 'scope.domain.id', 'scope.system', 'scope.OS-INHERIT:inherited_to'].some(
        (f) => query(req, f) !== undefined,
      );
      const assignments = none
        ? []
        : await identity.listAssignments({
            userId: query(req, 'user.id'),
            projectId: query(req, 'scope.project.id'),
            roleId: query(req, 'role.id'),
          });
      let body: unknown[];
      if (flag(req, 'include_names')) {
        const named = await identity.nameAssignments(assignments);
        const domains = new Map<string, Domain>((await identity.listDomains()).map((d) => [d.id, d]));
        body = named.map((a) => views.assignment(a, domains));
      } else {
        body = assignments.map((a) => views.assignment(a, new Map()));
      }
      res.json(views.list('role_assignments', 'role_assignments', body));
    }),
  );

  // ------------------------------------------------------------ users
  router.post(
    '/v3/users',
    authed,
    route(async (req, res) => {
      const claims = requireAdmin(req);
      const { user: body } = parseBody(userCreateBody, req.body);
      const user = await identity.createUser({
        name: body.name,
        domainId: body.domain_id ?? claims.project?.domainId ?? claims.userDomainId,
        password: body.password,
        enabled: body.enabled,
        defaultProjectId: body.default_project_id,
        extra: userExtra(body),
      });
      res.status(201).json({ user: views.user(user) });
    }),
  );
  router.get(
    '/v3/users',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const users = await identity.listUsers({
        name: query(req, 'name'),
        domainId: query(req, 'domain_id'),
        enabled: boolFilter(req, 'enabled'),
      });
      res.json(
        views.list(
          'users',
          'users',
          users.map((u) => views.user(u)),
        ),
      );
    }),
  );
  router.get(
    '/v3/users/:userId',
    authed,
    route(async (req, res) => {
      const id = param(req, 'userId');
      requireSelfOrAdmin(req, id);
      res.json({ user: views.user(await identity.getUser(id)) });
    }),
  );
  router.patch(
    '/v3/users/:userId',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const id = param(req, 'userId');
      const { user: body } = parseBody(userUpdateBody, req.body);
      const current = await identity.getUser(id);
      if (body.domain_id !== undefined && body.domain_id !== current.domainId) {
        throw invalid('Update of `domain_id` is not allowed.');
      }
      const extra = userExtra(body);
      const user = await identity.updateUser(id, {
        name: body.name,
        password: body.password,
        enabled: body.enabled,
        defaultProjectId: body.default_project_id,
        extra: Object.keys(extra).length > 0 ? extra : undefined,
      });
      res.json({ user: views.user(user) });
    }),
  );
  router.delete(
    '/v3/users/:userId',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      await identity.deleteUser(param(req, 'userId'));
      res.status(204).end();
    }),
  );
  router.post(
    '/v3/users/:userId/password',
    authed,
    route(async (req, res) => {
      const id = param(req, 'userId');
      if (requireAuth(req).userId !== id) throw forbidden();
      const { user } = parseBody(passwordChangeBody, req.body);
      await identity.changePassword(id, user.original_password, user.password);
      res.status(204).end();
    }),
  );
  router.get(
    '/v3/users/:userId/projects',
    authed,
    route(async (req, res) => {
      const id = param(req, 'userId');
      requireSelfOrAdmin(req, id);
      await identity.getUser(id);
      const projects = await identity.listUserProjects(id);
      res.json(
        views.list(
          'projects',
          `users/${id}/projects`,
          projects.map((p) => views.project(p)),
        ),
      );
    }),
  );

  // ------------------------------------------------------------ EC2 credentials
  const ec2Path = '/v3/users/:userId/credentials/OS-EC2';
  router.post(
    ec2Path,
    authed,
    route(async (req, res) => {
      const userId = param(req, 'userId');
      requireSelfOrAdmin(req, userId);
      const body = parseBody(ec2CreateBody, req.body);
      const credential = await identity.createEc2Credential(userId, body.tenant_id);
      res.status(201).json({ credential: views.ec2(credential) });
    }),
  );
  router.get(
    ec2Path,
    authed,
    route(async (req, res) => {
      const userId = param(req, 'userId');
      requireSelfOrAdmin(req, userId);
      const credentials = await identity.listEc2Credentials({ userId });
      res.json(
        views.list(
          'credentials',
          `users/${userId}/credentials/OS-EC2`,
          credentials.map((c) => views.ec2(c)),
        ),
      );
    }),
  );
  router.get(
    `${ec2Path}/:access`,
    authed,
    route(async (req, res) => {
      const userId = param(req, 'userId');
      requireSelfOrAdmin(req, userId);
      res.json({ credential: views.ec2(await identity.getEc2Credential(userId, param(req, 'access'))) });
    }),
  );
  router.delete(
    `${ec2Path}/:access`,
    authed,
    route(async (req, res) => {
      const userId = param(req, 'userId');
      requireSelfOrAdmin(req, userId);
      await identity.deleteEc2Credential(userId, param(req, 'access'));
      res.status(204).end();
    }),
  );
  router.get(
    '/v3/credentials',
    authed,
    route(async (req, res) => {
      const claims = requireAuth(req);
      const type = query(req, 'type');
      const userId = isAdmin(claims) ? query(req, 'user_id') : claims.userId;
      if (
        !isAdmin(claims) &&
        query(req, 'user_id') !== undefined &&
        query(req, 'user_id') !== claims.userId
      ) {
        throw forbidden();
      }
      const credentials =
        type !== undefined && type !== 'ec2' ? [] : await identity.listEc2Credentials({ userId });
      res.json(
        views.list(
          'credentials',
          'credentials',
          credentials.map((c) => views.credential(c)),
        ),
      );
    }),
  );

  // ------------------------------------------------------------ roles
  router.post(
    '/v3/roles',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const { role: body } = parseBody(roleCreateBody, req.body);
      const role = await identity.createRole({
        name: body.name,
        description: body.description,
        extra: roleExtra(body),
      });
      res.status(201).json({ role: views.role(role) });
    }),
  );
  router.get(
    '/v3/roles',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const roles = await identity.listRoles({ name: query(req, 'name') });
      res.json(
        views.list(
          'roles',
          'roles',
          roles.map((r) => views.role(r)),
        ),
      );
    }),
  );
  router.get(
    '/v3/roles/:roleId',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      res.json({ role: views.role(await identity.getRole(param(req, 'roleId'))) });
    }),
  );
  router.patch(
    '/v3/roles/:roleId',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const { role: body } = parseBody(roleUpdateBody, req.body);
      const extra = roleExtra(body);
      const role = await identity.updateRole(param(req, 'roleId'), {
        name: body.name,
        description: body.description,
        extra: Object.keys(extra).length > 0 ? extra : undefined,
      });
      res.json({ role: views.role(role) });
    }),
  );
  router.delete(
    '/v3/roles/:roleId',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      await identity.deleteRole(param(req, 'roleId'));
      res.status(204).end();
    }),
  );

  // ------------------------------------------------------------ catalog administration (read-only)
  router.get(
    '/v3/services',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const type = query(req, 'type');
      const services = (await identity.listServices()).filter((s) => type === undefined || s.type === type);
      res.json(
        views.list(
          'services',
          'services',
          services.map((s) => views.service(s)),
        ),
      );
    }),
  );
  router.get(
    '/v3/endpoints',
    authed,
    route(async (req, res) => {
      requireAdmin(req);
      const iface = query(req, 'interface');
      const serviceId = query(req, 'service_id');
      const endpoints = (await identity.listEndpoints()).filter(
        (e) =>
          (iface === undefined || e.interface === iface) &&
          (serviceId === undefined || e.serviceId === serviceId),
      );
      res.json(
        views.list(
          'endpoints',
          'endpoints',
          endpoints.map((e) => views.endpoint(e)),
        ),
      );
    }),
  );

  // ------------------------------------------------------------ other methods on known paths: 405
  const methodNotAllowed: RequestHandler = (_req, _res, next) =>
    next(new AppError('MethodNotAllowed', 'The method specified is not allowed for the requested resource.'));
  for (const path of [
    '/',
    '/v3',
    '/v3/auth/tokens',
    '/v3/auth/catalog',
    '/v3/auth/projects',
    '/v3/auth/domains',
    '/v3/domains',
    '/v3/domains/:domainId',
    '/v3/projects',
    '/v3/projects/:projectId',
    grantPath,
    '/v3/projects/:projectId/users/:userId/roles',
    '/v3/role_assignments',
    '/v3/users',
    '/v3/users/:userId',
    '/v3/users/:userId/password',
    '/v3/users/:userId/projects',
    ec2Path,
    `${ec2Path}/:access`,
    '/v3/credentials',
    '/v3/roles',
    '/v3/roles/:roleId',
    '/v3/services',
    '/v3/endpoints',
  ]) {
    router.all(path, methodNotAllowed);
  }

  // Keystone tells a client where to authenticate on every 401.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (toAppError(err).kind === 'Unauthorized')
      res.setHeader('WWW-Authenticate', `Keystone uri="${views.root}"`);
    next(err);
  });

  return router;
}
