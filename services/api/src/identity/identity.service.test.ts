import { TokenService, parseSigningKeys } from '@strato/auth';
import { MemoryCache } from '@strato/cache';
import { openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import type { CatalogSpec } from './catalog';
import { IdentityService } from './identity.service';
import type { AuthRequest } from './model';
import { identityEntities, identityMigrations } from './store';
import { Ec2CredentialEntity, UserEntity } from './store/entities';

const keys = parseSigningKeys(`k1:${'s'.repeat(40)}`);
const catalog: CatalogSpec = {
  region: 'RegionOne',
  services: [
    {
      type: 'identity',
      name: 'keystone',
      urls: { public: 'http://id/v3/', internal: 'http://id-int/v3/', admin: 'http://id/v3/' },
    },
    {
      type: 'object-store',
      name: 'swift',
      urls: {
        public: 'http://swift/v1/AUTH_%(project_id)s',
        internal: 'http://swift/v1/AUTH_%(project_id)s',
        admin: 'http://swift/v1/AUTH_%(project_id)s',
      },
    },
  ],
};

interface World {
  db: DataSource;
  tokens: TokenService;
  identity: IdentityService;
  projectId: string;
  userId: string;
  memberRoleId: string;
}

let w: World;

async function world(): Promise<World> {
  const db = await openDatabase({
    url: 'sqlite::memory:',
    dataDir: '',
    schema: 'identity',
    entities: identityEntities,
    migrations: identityMigrations,
  });
  let t = Date.now();
  // Each call moves time on by 1 ms so revocation ("issued before now") is never ambiguous.
  const tokens = new TokenService({ keys, cache: new MemoryCache(), ttlSeconds: 3600, now: () => ++t });
  const identity = new IdentityService({
    db,
    tokens,
    log: createLogger('test', { level: 'silent' }),
    catalog,
    secretKeys: keys,
  });
  const project = await identity.createProject({ name: 'demo' });
  const user = await identity.createUser({ name: 'alice', password: 'correct horse' });
  const member = await identity.createRole({ name: 'member' });
  await identity.grant(project.id, user.id, member.id);
  return { db, tokens, identity, projectId: project.id, userId: user.id, memberRoleId: member.id };
}

const byName = (overrides: Partial<AuthRequest> = {}): AuthRequest => ({
  methods: ['password'],
  password: { user: { name: 'alice', domain: { name: 'Default' }, password: 'correct horse' } },
  scope: { kind: 'project', name: 'demo', domain: { id: 'default' } },
  ...overrides,
});

beforeEach(async () => {
  w = await world();
});

afterEach(async () => {
  await w.db.destroy();
});

describe('IdentityService: authentication', () => {
  it('issues a project-scoped token by user and project name with the roles held', async () => {
    const { token, claims } = await w.identity.issueToken(byName());
    expect(claims).toMatchObject({
      userId: w.userId,
      userName: 'alice',
      userDomainId: 'default',
      userDomainName: 'Default',
      project: { id: w.projectId, name: 'demo', domainId: 'default', domainName: 'Default' },
      roles: [{ id: w.memberRoleId, name: 'member' }],
      methods: ['password'],
    });
    await expect(w.tokens.verify(token)).resolves.toMatchObject({ userId: w.userId });
  });

  it('authenticates by user id and scopes by project id', async () => {
    const { claims } = await w.identity.issueToken({
      methods: ['password'],
      password: { user: { id: w.userId, password: 'correct horse' } },
      scope: { kind: 'project', id: w.projectId },
    });
    expect(claims.project?.id).toBe(w.projectId);
  });

  it('issues an unscoped token without roles when no scope is asked for', async () => {
    const { claims } = await w.identity.issueToken(byName({ scope: { kind: 'unscoped' } }));
    expect(claims.project).toBeNull();
    expect(claims.roles).toEqual([]);
  });

  it.each([
    [
      'a wrong password',
      byName({ password: { user: { name: 'alice', domain: { id: 'default' }, password: 'x' } } }),
    ],
    [
      'an unknown user',
      byName({ password: { user: { name: 'bob', domain: { id: 'default' }, password: 'x' } } }),
    ],
    [
      'an unknown domain',
      byName({ password: { user: { name: 'alice', domain: { name: 'Nope' }, password: 'x' } } }),
    ],
    ['an unknown project', byName({ scope: { kind: 'project', id: 'nope' } })],
    ['an unsupported method', byName({ methods: ['totp'] })],
    ['a domain scope', byName({ scope: { kind: 'domain' } })],
  ])('refuses %s with Unauthorized', async (_what, request) => {
    await expect(w.identity.issueToken(request)).rejects.toMatchObject({ kind: 'Unauthorized' });
  });

  it('refuses a user without a role on the project', async () => {
    await w.identity.createProject({ name: 'other' });
    await expect(
      w.identity.issueToken(byName({ scope: { kind: 'project', name: 'other', domain: { id: 'default' } } })),
    ).rejects.toMatchObject({ kind: 'Unauthorized', message: expect.stringContaining('has no access') });
  });

  it('refuses a disabled user and a disabled project', async () => {
    await w.identity.updateProject(w.projectId, { enabled: false });
    await expect(w.identity.issueToken(byName())).rejects.toMatchObject({ kind: 'Unauthorized' });
    await w.identity.updateProject(w.projectId, { enabled: true });
    await w.identity.updateUser(w.userId, { enabled: false });
    await expect(w.identity.issueToken(byName({ scope: { kind: 'unscoped' } }))).rejects.toMatchObject({
      kind: 'Unauthorized',
    });
  });

  it('asks for a domain when a user or project is named without one (400)', async () => {
    await expect(
      w.identity.issueToken(byName({ password: { user: { name: 'alice', password: 'correct horse' } } })),
    ).rejects.toMatchObject({ kind: 'Invalid' });
    await expect(
      w.identity.issueToken(byName({ scope: { kind: 'project', name: 'demo' } })),
    ).rejects.toMatchObject({ kind: 'Invalid' });
  });

  it('exchanges a token for a rescoped one that keeps its expiry and audit chain', async () => {
    const unscoped = await w.identity.issueToken(byName({ scope: { kind: 'unscoped' } }));
    const { claims } = await w.identity.issueToken({
      methods: ['token'],
      token: { id: unscoped.token },
      scope: { kind: 'project', id: w.projectId },
    });
    expect(claims.methods).toEqual(['token', 'password']);
    expect(claims.expiresAt).toEqual(unscoped.claims.expiresAt);
    expect(claims.auditIds[1]).toBe(unscoped.claims.auditIds[0]);
    expect(claims.roles.map((r) => r.name)).toEqual(['member']);
  });

  it('refuses to exchange a revoked token', async () => {
    const first = await w.identity.issueToken(byName());
    await w.identity.revokeToken(first.claims);
    await expect(
      w.identity.issueToken({ methods: ['token'], token: { id: first.token }, scope: { kind: 'unscoped' } }),
    ).rejects.toMatchObject({ kind: 'Unauthorized' });
  });

  it('stores passwords only as scrypt hashes', async () => {
    const row = await w.db.getRepository(UserEntity).findOneByOrFail({ id: w.userId });
    expect(row.passwordHash).toMatch(/^scrypt\$/);
    expect(row.passwordHash).not.toContain('correct horse');
    expect(await w.identity.getUser(w.userId)).not.toHaveProperty('passwordHash');
  });
});

describe('IdentityService: tokens against current state', () => {
  it('validates with the roles the user holds now', async () => {
    const { token } = await w.identity.issueToken(byName());
    const reader = await w.identity.createRole({ name: 'reader' });
    await w.identity.grant(w.projectId, w.userId, reader.id);
    const claims = await w.identity.validateToken(token);
    expect(claims.roles.map((r) => r.name)).toEqual(['member', 'reader']);
  });

  it('reports a forged or garbage subject token as NotFound', async () => {
    await expect(w.identity.validateToken('garbage')).rejects.toMatchObject({ kind: 'NotFound' });
  });

  it('invalidates tokens of a deleted project and removes its assignments', async () => {
    const { token, claims } = await w.identity.issueToken(byName());
    await w.identity.deleteProject(w.projectId);
    await expect(w.identity.validateToken(token)).rejects.toMatchObject({ kind: 'NotFound' });
    await expect(w.identity.currentClaims(claims)).rejects.toMatchObject({ kind: 'Unauthorized' });
    expect(await w.identity.listAssignments({ userId: w.userId })).toEqual([]);
  });

  it('revokes the tokens of a disabled user', async () => {
    const { token } = await w.identity.issueToken(byName());
    await w.identity.updateUser(w.userId, { enabled: false });
    await expect(w.tokens.verify(token)).rejects.toMatchObject({ kind: 'Unauthorized' });
  });

  it('revokes the tokens of a user whose role is taken away', async () => {
    const { token, claims } = await w.identity.issueToken(byName());
    await w.identity.revokeGrant(w.projectId, w.userId, w.memberRoleId);
    await expect(w.tokens.verify(token)).rejects.toMatchObject({ kind: 'Unauthorized' });
    await expect(w.identity.currentClaims(claims)).rejects.toMatchObject({
      kind: 'Unauthorized',
    });
  });

  it('deletes a user with its assignments and EC2 credentials and revokes its tokens', async () => {
    const { token } = await w.identity.issueToken(byName());
    await w.identity.createEc2Credential(w.userId, w.projectId);
    await w.identity.deleteUser(w.userId);
    await expect(w.tokens.verify(token)).rejects.toMatchObject({ kind: 'Unauthorized' });
    expect(await w.identity.listAssignments({ projectId: w.projectId })).toEqual([]);
    expect(await w.identity.listEc2Credentials()).toEqual([]);
  });

  it('removes the assignments of a deleted role', async () => {
    await w.identity.deleteRole(w.memberRoleId);
    expect(await w.identity.listAssignments()).toEqual([]);
  });
});

describe('IdentityService: administration', () => {
  it('refuses a second project, user or role of the same name with Conflict', async () => {
    await expect(w.identity.createProject({ name: 'demo' })).rejects.toMatchObject({
      kind: 'Conflict',
      message: expect.stringContaining('Duplicate entry found with name demo'),
    });
    await expect(w.identity.createUser({ name: 'alice' })).rejects.toMatchObject({ kind: 'Conflict' });
    await expect(w.identity.createRole({ name: 'member' })).rejects.toMatchObject({ kind: 'Conflict' });
    const other = await w.identity.createProject({ name: 'other' });
    await expect(w.identity.updateProject(other.id, { name: 'demo' })).rejects.toMatchObject({
      kind: 'Conflict',
    });
  });

  it('gives 32-hex-character ids like Keystone', async () => {
    expect(w.projectId).toMatch(/^[0-9a-f]{32}$/);
    expect(w.userId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('filters lists by name and reports unknown ids as NotFound', async () => {
    await w.identity.createProject({ name: 'other' });
    expect((await w.identity.listProjects({ name: 'other' })).map((p) => p.name)).toEqual(['other']);
    expect(await w.identity.listUsers({ name: 'nobody' })).toEqual([]);
    await expect(w.identity.getProject('nope')).rejects.toMatchObject({ kind: 'NotFound' });
    await expect(w.identity.grant(w.projectId, w.userId, 'nope')).rejects.toMatchObject({ kind: 'NotFound' });
  });

  it('grants idempotently and lists the projects a user has roles on', async () => {
    await w.identity.grant(w.projectId, w.userId, w.memberRoleId);
    expect(await w.identity.listGrants(w.projectId, w.userId)).toHaveLength(1);
    expect((await w.identity.listUserProjects(w.userId)).map((p) => p.id)).toEqual([w.projectId]);
    await w.identity.revokeGrant(w.projectId, w.userId, w.memberRoleId);
    await expect(w.identity.checkGrant(w.projectId, w.userId, w.memberRoleId)).rejects.toMatchObject({
      kind: 'NotFound',
    });
  });

  it('lets a user change its password only with the original one', async () => {
    await expect(w.identity.changePassword(w.userId, 'wrong', 'new one')).rejects.toMatchObject({
      kind: 'Unauthorized',
    });
    await w.identity.changePassword(w.userId, 'correct horse', 'new one');
    await expect(w.identity.issueToken(byName())).rejects.toMatchObject({ kind: 'Unauthorized' });
    const again = byName({ password: { user: { id: w.userId, password: 'new one' } } });
    await expect(w.identity.issueToken(again)).resolves.toBeDefined();
  });
});

describe('IdentityService: catalog and EC2 credentials', () => {
  it("fills the token's project into endpoint URLs and leaves them out when unscoped", async () => {
    await w.identity.syncCatalog();
    const scoped = await w.identity.catalogFor(w.projectId);
    expect(scoped.map((s) => s.type)).toEqual(['identity', 'object-store']);
    expect(scoped[1]!.endpoints.map((e) => e.url)).toEqual(
      Array(3).fill(`http://swift/v1/AUTH_${w.projectId}`),
    );
    expect(scoped[0]!.endpoints.map((e) => e.interface)).toEqual(['public', 'internal', 'admin']);
    const unscoped = await w.identity.catalogFor(null);
    expect(unscoped[1]!.endpoints).toEqual([]);
  });

  it('syncs the catalog idempotently and corrects a changed URL', async () => {
    expect(await w.identity.syncCatalog()).toHaveLength(8);
    expect(await w.identity.syncCatalog()).toEqual([]);
    const moved = structuredClone(catalog);
    moved.services[0]!.urls.public = 'http://moved/v3/';
    expect(await w.identity.syncCatalog(moved)).toEqual([
      'endpoint keystone public updated to http://moved/v3/',
    ]);
  });

  it('creates EC2 credentials whose secret is stored encrypted and found by access key', async () => {
    const cred = await w.identity.createEc2Credential(w.userId, w.projectId);
    expect(cred.access).toMatch(/^[0-9a-f]{32}$/);
    const row = await w.db.getRepository(Ec2CredentialEntity).findOneByOrFail({ access: cred.access });
    expect(row.secretBlob).not.toContain(cred.secret);
    await expect(w.identity.ec2Lookup(cred.access)).resolves.toEqual({
      secret: cred.secret,
      userId: w.userId,
      userName: 'alice',
      projectId: w.projectId,
      projectName: 'demo',
      roles: [{ id: w.memberRoleId, name: 'member' }],
    });
    await w.identity.deleteEc2Credential(w.userId, cred.access);
    await expect(w.identity.ec2Lookup(cred.access)).rejects.toMatchObject({ kind: 'Unauthorized' });
  });

  it('refuses an EC2 lookup once the user lost its role on the project', async () => {
    const cred = await w.identity.createEc2Credential(w.userId, w.projectId);
    await w.identity.revokeGrant(w.projectId, w.userId, w.memberRoleId);
    await expect(w.identity.ec2Lookup(cred.access)).rejects.toMatchObject({ kind: 'Unauthorized' });
  });
});
