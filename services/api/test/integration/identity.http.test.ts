/**
 * Identity v3 over real HTTP against the api service (SQLite, in-memory bus and cache):
 * status codes, headers and bodies as Keystone sends them.
 */
import jwt from 'jsonwebtoken';
import { MemoryCache } from '@strato/cache';
import { TokenService, parseSigningKeys } from '@strato/auth';
import {
  ADMIN_PASSWORD,
  call,
  passwordAuth,
  startIdentity,
  type CallOptions,
  type Harness,
} from '../support/identity-harness';

const UNAUTHORIZED = {
  error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
};
const adminByName = passwordAuth(
  { name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD },
  { project: { name: 'admin', domain: { name: 'Default' } } },
);

/** One field of every object in a JSON list. */
const pluck = (list: unknown, key: string): unknown[] =>
  (list as Record<string, unknown>[]).map((x) => x[key]);

let h: Harness;
let adminToken: string;
const api = (method: string, path: string, o?: CallOptions) => call(h.url, method, path, o);
const admin = (method: string, path: string, body?: unknown) =>
  api(method, path, { token: adminToken, body });

async function issue(body: unknown, query = ''): Promise<string> {
  const res = await api('POST', `/v3/auth/tokens${query}`, { body });
  expect(res.status).toBe(201);
  return res.headers.get('x-subject-token')!;
}

/** A project p, a user u (password "pw") with member on it. */
async function memberOfNewProject(name: string) {
  const project = (await admin('POST', '/v3/projects', { project: { name } })).body.project;
  const user = (await admin('POST', '/v3/users', { user: { name: `${name}-user`, password: 'pw' } })).body
    .user;
  const member = (await admin('GET', '/v3/roles?name=member')).body.roles[0];
  expect((await admin('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${member.id}`)).status).toBe(
    204,
  );
  const token = await issue(passwordAuth({ id: user.id, password: 'pw' }, { project: { id: project.id } }));
  return { project, user, token, member };
}

beforeAll(async () => {
  h = await startIdentity();
  adminToken = await issue(adminByName);
});

afterAll(async () => {
  await h.stop();
});

describe('version discovery', () => {
  it('answers GET / with 300, the v3.14 document and a Location', async () => {
    const res = await api('GET', '/');
    expect(res.status).toBe(300);
    expect(res.headers.get('location')).toBe('http://127.0.0.1:5000/v3/');
    expect(res.body.versions.values).toEqual([
      {
        id: 'v3.14',
        status: 'stable',
        updated: '2020-04-07T00:00:00Z',
        links: [{ rel: 'self', href: 'http://127.0.0.1:5000/v3/' }],
        'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
      },
    ]);
  });

  it.each(['/v3', '/v3/'])('answers GET %s with 200, Vary and a request id', async (path) => {
    const res = await api('GET', path);
    expect(res.status).toBe(200);
    expect(res.body.version.id).toBe('v3.14');
    expect(res.headers.get('vary')).toBe('X-Auth-Token');
    expect(res.headers.get('x-openstack-request-id')).toMatch(/^req-[0-9a-f-]{36}$/);
  });
});

describe('POST /v3/auth/tokens', () => {
  it('issues a project-scoped token by names with Keystone’s body and catalog', async () => {
    const res = await api('POST', '/v3/auth/tokens', { body: adminByName });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-subject-token')).toBeTruthy();
    expect(res.headers.get('vary')).toBe('X-Auth-Token');
    const t = res.body.token;
    expect(Object.keys(t)).toEqual([
      'methods',
      'user',
      'audit_ids',
      'expires_at',
      'issued_at',
      'project',
      'is_domain',
      'roles',
      'catalog',
    ]);
    expect(t.user).toEqual({
      domain: { id: 'default', name: 'Default' },
      id: h.boot.adminUserId,
      name: 'admin',
      password_expires_at: null,
    });
    expect(t.project).toEqual({
      domain: { id: 'default', name: 'Default' },
      id: h.boot.adminProjectId,
      name: 'admin',
    });
    expect(t.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(t.issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(t.audit_ids[0]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(pluck(t.roles, 'name').sort()).toEqual(['admin', 'member', 'reader']);
    expect(pluck(t.catalog, 'type')).toEqual(['identity', 'compute', 'image', 'object-store']);
    const swift = t.catalog[3].endpoints;
    expect(swift[0]).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      interface: 'public',
      region_id: 'RegionOne',
      url: `http://127.0.0.1:8080/v1/AUTH_${h.boot.adminProjectId}`,
      region: 'RegionOne',
    });
  });

  it('issues a token by user id scoped by project id', async () => {
    const res = await api('POST', '/v3/auth/tokens?nocatalog', {
      body: passwordAuth(
        { id: h.boot.adminUserId, password: ADMIN_PASSWORD },
        { project: { id: h.boot.adminProjectId } },
      ),
    });
    expect(res.status).toBe(201);
    expect(res.body.token.project.id).toBe(h.boot.adminProjectId);
    expect(res.body.token).not.toHaveProperty('catalog');
  });

  it('issues a token scoped by project name and domain id', async () => {
    const res = await api('POST', '/v3/auth/tokens', {
      body: passwordAuth(
        { name: 'admin', domain: { id: 'default' }, password: ADMIN_PASSWORD },
        { project: { name: 'admin', domain: { id: 'default' } } },
      ),
    });
    expect(res.status).toBe(201);
    expect(res.body.token.project.name).toBe('admin');
  });

  it('issues an unscoped token without project, roles or catalog', async () => {
    const res = await api('POST', '/v3/auth/tokens', {
      body: passwordAuth({ name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD }),
    });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body.token).sort()).toEqual([
      'audit_ids',
      'expires_at',
      'issued_at',
      'methods',
      'user',
    ]);
  });

  it('exchanges a token (method "token") for a rescoped one with the same expiry', async () => {
    const unscoped = await api('POST', '/v3/auth/tokens', {
      body: passwordAuth({ name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD }),
    });
    const res = await api('POST', '/v3/auth/tokens', {
      body: {
        auth: {
          identity: { methods: ['token'], token: { id: unscoped.headers.get('x-subject-token') } },
          scope: { project: { id: h.boot.adminProjectId } },
        },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.token.methods).toEqual(['token', 'password']);
    expect(res.body.token.expires_at).toBe(unscoped.body.token.expires_at);
    expect(res.body.token.audit_ids[1]).toBe(unscoped.body.token.audit_ids[0]);
  });

  it('answers a wrong password with 401 and Keystone’s body', async () => {
    const res = await api('POST', '/v3/auth/tokens', {
      body: passwordAuth({ name: 'admin', domain: { name: 'Default' }, password: 'wrong' }),
    });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(UNAUTHORIZED);
    expect(res.headers.get('www-authenticate')).toMatch(/^Keystone uri="http:\/\/127\.0\.0\.1:5000"$/);
  });

  it('answers an unknown method with 401', async () => {
    const res = await api('POST', '/v3/auth/tokens', {
      body: { auth: { identity: { methods: ['totp'], totp: {} } } },
    });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe(401);
  });

  it('answers malformed JSON with 400 and Keystone’s body', async () => {
    const res = await api('POST', '/v3/auth/tokens', { raw: '{"auth": ' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 400, title: 'Bad Request', message: expect.any(String) } });
  });

  it('answers an oversize body with 413', async () => {
    const res = await api('POST', '/v3/auth/tokens', { raw: JSON.stringify({ pad: 'x'.repeat(200_000) }) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe(413);
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'auth'],
    ['no auth', {}],
    ['auth null', { auth: null }],
    ['no identity', { auth: {} }],
    ['methods not an array', { auth: { identity: { methods: 'password' } } }],
    ['methods of numbers', { auth: { identity: { methods: [1] } } }],
    ['password method without password', { auth: { identity: { methods: ['password'] } } }],
    ['user name of the wrong type', passwordAuth({ name: 1 as unknown as string, password: 'x' })],
    ['a user name without a domain', passwordAuth({ name: 'admin', password: ADMIN_PASSWORD })],
    ['a scope of the wrong type', { auth: { identity: { methods: ['password'] }, scope: 7 } }],
  ])('answers %s with 400, never 500', async (_what, body) => {
    const res = await api('POST', '/v3/auth/tokens', { raw: JSON.stringify(body) });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 400, title: 'Bad Request' });
  });

  it('answers a project scope without a role, or a domain scope, with 401', async () => {
    const project = (await admin('POST', '/v3/projects', { project: { name: 'no-roles-here' } })).body
      .project;
    const noRole = await api('POST', '/v3/auth/tokens', {
      body: passwordAuth(
        { id: h.boot.adminUserId, password: ADMIN_PASSWORD },
        { project: { id: project.id } },
      ),
    });
    expect(noRole.status).toBe(401);
    const domain = await api('POST', '/v3/auth/tokens', {
      body: passwordAuth({ id: h.boot.adminUserId, password: ADMIN_PASSWORD }, { domain: { id: 'default' } }),
    });
    expect(domain.status).toBe(401);
  });
});

describe('token validation and revocation', () => {
  it('validates (GET, HEAD) then revokes (DELETE) a token; afterwards 404 as subject, 401 as caller', async () => {
    const subject = await issue(adminByName);
    const got = await api('GET', '/v3/auth/tokens', { token: adminToken, subject });
    expect(got.status).toBe(200);
    expect(got.headers.get('x-subject-token')).toBe(subject);
    expect(got.body.token.catalog).toHaveLength(4);
    expect(
      (await api('GET', '/v3/auth/tokens?nocatalog', { token: adminToken, subject })).body.token,
    ).not.toHaveProperty('catalog');
    expect((await api('HEAD', '/v3/auth/tokens', { token: adminToken, subject })).status).toBe(200);
    expect((await api('DELETE', '/v3/auth/tokens', { token: adminToken, subject })).status).toBe(204);
    const gone = await api('GET', '/v3/auth/tokens', { token: adminToken, subject });
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ code: 404, title: 'Not Found' });
    expect((await api('HEAD', '/v3/auth/tokens', { token: adminToken, subject })).status).toBe(404);
    const asCaller = await api('GET', '/v3/projects', { token: subject });
    expect(asCaller.status).toBe(401);
    expect(asCaller.body).toEqual(UNAUTHORIZED);
  });

  it('lets a user validate its own token but not another user’s', async () => {
    const { token } = await memberOfNewProject('validate-own');
    expect((await api('GET', '/v3/auth/tokens', { token, subject: token })).status).toBe(200);
    expect((await api('GET', '/v3/auth/tokens', { token, subject: adminToken })).status).toBe(403);
  });

  it.each([
    ['no token', undefined],
    ['garbage', 'not-a-token'],
    ['a forged signature', () => `${adminToken.split('.').slice(0, 2).join('.')}.AAAA`],
    [
      'alg=none',
      () => {
        const payload = adminToken.split('.')[1];
        return `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'k1' })).toString('base64url')}.${payload}.`;
      },
    ],
    ['another key', () => jwt.sign({ sub: 'x' }, 'z'.repeat(40), { algorithm: 'HS256', keyid: 'k1' })],
    [
      'an expired token',
      () => {
        const past = new TokenService({
          keys: parseSigningKeys(h.config.TOKEN_SIGNING_KEYS),
          cache: new MemoryCache(),
          ttlSeconds: 3600,
          now: () => Date.now() - 2 * 3600 * 1000,
        });
        return past.issue({
          userId: h.boot.adminUserId,
          userName: 'admin',
          userDomainId: 'default',
          userDomainName: 'Default',
          project: { id: h.boot.adminProjectId, name: 'admin', domainId: 'default', domainName: 'Default' },
          roles: [{ id: 'x', name: 'admin' }],
          methods: ['password'],
        }).token;
      },
    ],
  ])('answers a request with %s with 401 and Keystone’s body', async (_what, make) => {
    const token = typeof make === 'function' ? make() : make;
    const res = await api('GET', '/v3/projects', token ? { token } : {});
    expect(res.status).toBe(401);
    expect(res.body).toEqual(UNAUTHORIZED);
  });

  it('accepts a token signed with the same key and a current clock (so the expired case fails on expiry)', async () => {
    const now = new TokenService({
      keys: parseSigningKeys(h.config.TOKEN_SIGNING_KEYS),
      cache: new MemoryCache(),
      ttlSeconds: 3600,
    });
    const { token } = now.issue({
      userId: h.boot.adminUserId,
      userName: 'admin',
      userDomainId: 'default',
      userDomainName: 'Default',
      project: { id: h.boot.adminProjectId, name: 'admin', domainId: 'default', domainName: 'Default' },
      roles: [{ id: 'x', name: 'admin' }],
      methods: ['password'],
    });
    expect((await api('GET', '/v3/projects', { token })).status).toBe(200);
  });
});

describe('projects, users, roles and grants', () => {
  it('creates, lists by name, shows, updates and deletes a project', async () => {
    const created = await admin('POST', '/v3/projects', {
      project: { name: 'crud', description: 'd', email: 'x@y' },
    });
    expect(created.status).toBe(201);
    const p = created.body.project;
    expect(p).toMatchObject({
      name: 'crud',
      description: 'd',
      domain_id: 'default',
      parent_id: 'default',
      enabled: true,
      is_domain: false,
      tags: [],
      email: 'x@y',
    });
    expect(p.id).toMatch(/^[0-9a-f]{32}$/);
    expect(p.links.self).toBe(`http://127.0.0.1:5000/v3/projects/${p.id}`);
    const listed = await admin('GET', '/v3/projects?name=crud');
    expect(pluck(listed.body.projects, 'id')).toEqual([p.id]);
    expect(listed.body.links).toEqual({
      next: null,
      self: 'http://127.0.0.1:5000/v3/projects',
      previous: null,
    });
    expect((await admin('GET', `/v3/projects/${p.id}`)).body.project.name).toBe('crud');
    const patched = await admin('PATCH', `/v3/projects/${p.id}`, {
      project: { enabled: false, description: 'e' },
    });
    expect(patched.body.project).toMatchObject({ enabled: false, description: 'e', email: 'x@y' });
    expect((await admin('PATCH', `/v3/projects/${p.id}`, { project: { domain_id: 'other' } })).status).toBe(
      400,
    );
    expect((await admin('DELETE', `/v3/projects/${p.id}`)).status).toBe(204);
    expect((await admin('GET', `/v3/projects/${p.id}`)).status).toBe(404);
  });

  it('answers a duplicate project, user or role name with 409 and Keystone’s message', async () => {
    await admin('POST', '/v3/projects', { project: { name: 'dup' } });
    const again = await admin('POST', '/v3/projects', { project: { name: 'dup' } });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({
      error: {
        code: 409,
        title: 'Conflict',
        message:
          'Conflict occurred attempting to store project - Duplicate entry found with name dup at domain ID default.',
      },
    });
    expect((await admin('POST', '/v3/users', { user: { name: 'admin' } })).status).toBe(409);
    expect((await admin('POST', '/v3/roles', { role: { name: 'member' } })).status).toBe(409);
  });

  it('validates create bodies: a missing name or a wrong type is 400', async () => {
    expect((await admin('POST', '/v3/projects', { project: {} })).status).toBe(400);
    expect((await admin('POST', '/v3/projects', { project: { name: 'x', enabled: 'yes' } })).status).toBe(
      400,
    );
    expect((await admin('POST', '/v3/users', { user: { name: 5 } })).status).toBe(400);
    expect((await admin('POST', '/v3/roles', {})).status).toBe(400);
  });

  it('creates a user whose password is never returned, and updates and deletes it', async () => {
    const res = await admin('POST', '/v3/users', { user: { name: 'carol', password: 'pw', email: 'c@x' } });
    expect(res.status).toBe(201);
    const u = res.body.user;
    expect(u).toMatchObject({
      name: 'carol',
      domain_id: 'default',
      enabled: true,
      password_expires_at: null,
    });
    expect(u.email).toBe('c@x');
    expect(JSON.stringify(u)).not.toMatch(/password"\s*:\s*"|scrypt/);
    expect((await admin('GET', '/v3/users?name=carol')).body.users).toHaveLength(1);
    const listed = JSON.stringify((await admin('GET', '/v3/users')).body);
    expect(listed).not.toMatch(/scrypt|"password"/);
    expect((await admin('PATCH', `/v3/users/${u.id}`, { user: { name: 'caroline' } })).body.user.name).toBe(
      'caroline',
    );
    expect((await admin('DELETE', `/v3/users/${u.id}`)).status).toBe(204);
    expect((await admin('GET', `/v3/users/${u.id}`)).status).toBe(404);
  });

  it('grants, checks, lists and removes a role; role_assignments filters and names', async () => {
    const { project, user, member } = await memberOfNewProject('grants');
    const path = `/v3/projects/${project.id}/users/${user.id}/roles/${member.id}`;
    expect((await api('HEAD', path, { token: adminToken })).status).toBe(204);
    const roles = await admin('GET', `/v3/projects/${project.id}/users/${user.id}/roles`);
    expect(pluck(roles.body.roles, 'name')).toEqual(['member']);
    const plain = await admin(
      'GET',
      `/v3/role_assignments?user.id=${user.id}&scope.project.id=${project.id}`,
    );
    expect(plain.body.role_assignments).toEqual([
      {
        scope: { project: { id: project.id } },
        role: { id: member.id },
        user: { id: user.id },
        links: { assignment: `http://127.0.0.1:5000${path}` },
      },
    ]);
    const named = await admin('GET', `/v3/role_assignments?user.id=${user.id}&include_names=True`);
    expect(named.body.role_assignments[0]).toMatchObject({
      scope: { project: { id: project.id, name: 'grants', domain: { id: 'default', name: 'Default' } } },
      role: { id: member.id, name: 'member' },
      user: { id: user.id, name: 'grants-user', domain: { id: 'default', name: 'Default' } },
    });
    const byRole = await admin('GET', `/v3/role_assignments?role.id=${member.id}`);
    expect(byRole.body.role_assignments.length).toBeGreaterThanOrEqual(2);
    expect((await admin('DELETE', path)).status).toBe(204);
    expect((await api('HEAD', path, { token: adminToken })).status).toBe(404);
    expect((await admin('DELETE', path)).status).toBe(404);
  });

  it('creates, renames and deletes a role, removing its assignments', async () => {
    const role = (await admin('POST', '/v3/roles', { role: { name: 'temp' } })).body.role;
    expect(role).toMatchObject({ name: 'temp', domain_id: null, description: null, options: {} });
    expect((await admin('PATCH', `/v3/roles/${role.id}`, { role: { name: 'temp2' } })).body.role.name).toBe(
      'temp2',
    );
    await admin('PUT', `/v3/projects/${h.boot.adminProjectId}/users/${h.boot.adminUserId}/roles/${role.id}`);
    expect((await admin('DELETE', `/v3/roles/${role.id}`)).status).toBe(204);
    // Like Keystone, deleting a role revokes the tokens that may carry it: the admin's too.
    expect((await admin('GET', '/v3/roles')).status).toBe(401);
    adminToken = await issue(adminByName);
    expect((await admin('GET', `/v3/role_assignments?role.id=${role.id}`)).body.role_assignments).toEqual([]);
    expect((await admin('GET', `/v3/roles/${role.id}`)).status).toBe(404);
  });

  it('shows the Default domain', async () => {
    const res = await admin('GET', '/v3/domains/default');
    expect(res.body.domain).toMatchObject({ id: 'default', name: 'Default', enabled: true });
    expect((await admin('GET', '/v3/domains?name=Default')).body.domains).toHaveLength(1);
  });
});

describe('authorisation', () => {
  it('refuses admin APIs to a non-admin with 403', async () => {
    const { token } = await memberOfNewProject('nonadmin');
    for (const [method, path, body] of [
      ['GET', '/v3/projects'],
      ['POST', '/v3/projects', { project: { name: 'nope' } }],
      ['GET', '/v3/users'],
      ['POST', '/v3/users', { user: { name: 'nope' } }],
      ['GET', '/v3/roles'],
      ['POST', '/v3/roles', { role: { name: 'nope' } }],
      ['GET', '/v3/role_assignments'],
      ['GET', '/v3/domains'],
      ['DELETE', `/v3/users/${h.boot.adminUserId}`],
      ['PUT', `/v3/projects/${h.boot.adminProjectId}/users/${h.boot.adminUserId}/roles/x`],
    ] as [string, string, unknown?][]) {
      const res = await api(method, path, { token, body });
      expect([method, path, res.status]).toEqual([method, path, 403]);
      expect(res.body.error.title).toBe('Forbidden');
    }
  });

  it("lets a project member read its own project and itself, not project B's things", async () => {
    const a = await memberOfNewProject('proj-a');
    const b = await memberOfNewProject('proj-b');
    expect((await api('GET', `/v3/projects/${a.project.id}`, { token: a.token })).status).toBe(200);
    expect((await api('GET', `/v3/projects/${b.project.id}`, { token: a.token })).status).toBe(403);
    expect((await api('GET', `/v3/users/${a.user.id}`, { token: a.token })).status).toBe(200);
    expect((await api('GET', `/v3/users/${b.user.id}`, { token: a.token })).status).toBe(403);
    expect((await api('GET', `/v3/users/${b.user.id}/projects`, { token: a.token })).status).toBe(403);
    expect(
      (
        await api('POST', `/v3/users/${b.user.id}/credentials/OS-EC2`, {
          token: a.token,
          body: { tenant_id: b.project.id },
        })
      ).status,
    ).toBe(403);
    const mine = await api('GET', '/v3/auth/projects', { token: a.token });
    expect(pluck(mine.body.projects, 'id')).toEqual([a.project.id]);
    const catalog = await api('GET', '/v3/auth/catalog', { token: a.token });
    expect(catalog.status).toBe(200);
    expect(catalog.body.catalog[3].endpoints[0].url).toBe(`http://127.0.0.1:8080/v1/AUTH_${a.project.id}`);
  });

  it('stops accepting the tokens of a disabled or deleted user, and of a deleted project', async () => {
    const a = await memberOfNewProject('disable-me');
    expect((await admin('PATCH', `/v3/users/${a.user.id}`, { user: { enabled: false } })).status).toBe(200);
    expect((await api('GET', `/v3/users/${a.user.id}`, { token: a.token })).status).toBe(401);
    const b = await memberOfNewProject('delete-me');
    expect((await admin('DELETE', `/v3/users/${b.user.id}`)).status).toBe(204);
    expect((await api('GET', '/v3/auth/projects', { token: b.token })).status).toBe(401);
    const c = await memberOfNewProject('drop-project');
    expect((await admin('DELETE', `/v3/projects/${c.project.id}`)).status).toBe(204);
    expect((await api('GET', '/v3/auth/catalog', { token: c.token })).status).toBe(401);
  });

  it('answers an unscoped token asking for the catalog with 403', async () => {
    const unscoped = await issue(
      passwordAuth({ name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD }),
    );
    expect((await api('GET', '/v3/auth/catalog', { token: unscoped })).status).toBe(403);
  });
});

describe('EC2 credentials', () => {
  it('creates, shows, lists and deletes EC2 credentials for the user itself', async () => {
    const a = await memberOfNewProject('ec2');
    const base = `/v3/users/${a.user.id}/credentials/OS-EC2`;
    const created = await api('POST', base, { token: a.token, body: { tenant_id: a.project.id } });
    expect(created.status).toBe(201);
    const c = created.body.credential;
    expect(c).toEqual({
      user_id: a.user.id,
      tenant_id: a.project.id,
      access: expect.stringMatching(/^[0-9a-f]{32}$/),
      secret: expect.stringMatching(/^[0-9a-f]{32}$/),
      trust_id: null,
      links: { self: `http://127.0.0.1:5000${base}/${c.access}` },
    });
    expect((await api('GET', `${base}/${c.access}`, { token: a.token })).body.credential.secret).toBe(
      c.secret,
    );
    expect((await api('GET', base, { token: a.token })).body.credentials).toHaveLength(1);
    const all = await api('GET', '/v3/credentials', { token: a.token });
    expect(all.body.credentials).toEqual([
      expect.objectContaining({ type: 'ec2', user_id: a.user.id, project_id: a.project.id }),
    ]);
    expect(JSON.parse(all.body.credentials[0].blob)).toEqual({
      access: c.access,
      secret: c.secret,
      trust_id: null,
    });
    await expect(h.service.identity.ec2Lookup(c.access)).resolves.toMatchObject({
      secret: c.secret,
      userId: a.user.id,
    });
    expect((await api('POST', base, { token: a.token, body: {} })).status).toBe(400);
    expect((await api('DELETE', `${base}/${c.access}`, { token: a.token })).status).toBe(204);
    expect((await api('GET', `${base}/${c.access}`, { token: a.token })).status).toBe(404);
  });
});

describe('unknown paths and methods', () => {
  it('answers an unknown path with 404 and a known path with a wrong method with 405', async () => {
    expect((await admin('GET', '/v3/nothing-here')).status).toBe(404);
    expect((await admin('PUT', '/v3/projects')).status).toBe(405);
  });
});
