import { TokenService, parseSigningKeys } from '@strato/auth';
import { MemoryCache } from '@strato/cache';
import { openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import { bootstrapIdentity } from './bootstrap';
import { IdentityService } from './identity.service';
import { identityEntities, identityMigrations } from './store';

const options = { adminUser: 'admin', adminProject: 'admin', adminPassword: 'pw-1', region: 'RegionOne' };

let db: DataSource;
let identity: IdentityService;

beforeEach(async () => {
  db = await openDatabase({
    url: 'sqlite::memory:',
    dataDir: '',
    schema: 'identity',
    entities: identityEntities,
    migrations: identityMigrations,
  });
  identity = new IdentityService({
    db,
    tokens: new TokenService({
      keys: parseSigningKeys(`k1:${'k'.repeat(32)}`),
      cache: new MemoryCache(),
      ttlSeconds: 60,
    }),
    log: createLogger('test', { level: 'silent' }),
    catalog: {
      region: 'ignored',
      services: [
        {
          type: 'compute',
          name: 'nova',
          urls: { public: 'http://c', internal: 'http://c', admin: 'http://c' },
        },
      ],
    },
  });
});

afterEach(async () => {
  await db.destroy();
});

describe('bootstrapIdentity', () => {
  it('creates the roles, the admin project and user with all three roles, and the catalog', async () => {
    const report = await bootstrapIdentity(identity, options);
    expect((await identity.listRoles()).map((r) => r.name)).toEqual(['admin', 'member', 'reader']);
    const roles = await identity.rolesOn(report.adminUserId, report.adminProjectId);
    expect(roles.map((r) => r.name)).toEqual(['admin', 'member', 'reader']);
    const endpoints = await identity.listEndpoints();
    expect(endpoints.map((e) => [e.interface, e.region])).toEqual(
      expect.arrayContaining([
        ['public', 'RegionOne'],
        ['internal', 'RegionOne'],
        ['admin', 'RegionOne'],
      ]),
    );
    const { claims } = await identity.issueToken({
      methods: ['password'],
      password: { user: { name: 'admin', domain: { name: 'Default' }, password: 'pw-1' } },
      scope: { kind: 'project', name: 'admin', domain: { name: 'Default' } },
    });
    expect(claims.roles).toHaveLength(3);
  });

  it('is idempotent: a second run changes nothing', async () => {
    const first = await bootstrapIdentity(identity, options);
    const second = await bootstrapIdentity(identity, options);
    expect(second).toEqual({ ...first, created: [] });
  });

  it('ends with one of everything when two bootstraps race', async () => {
    const [a, b] = await Promise.all([
      bootstrapIdentity(identity, options),
      bootstrapIdentity(identity, options),
    ]);
    expect(a.adminUserId).toBe(b.adminUserId);
    expect(await identity.listRoles()).toHaveLength(3);
    expect(await identity.listUsers()).toHaveLength(1);
    expect(await identity.listServices()).toHaveLength(1);
    expect(await identity.listEndpoints()).toHaveLength(3);
    expect(await identity.listAssignments()).toHaveLength(3);
  });

  it('resets the admin password when it changed, and re-enables the admin', async () => {
    const first = await bootstrapIdentity(identity, options);
    await identity.updateUser(first.adminUserId, { enabled: false });
    const second = await bootstrapIdentity(identity, { ...options, adminPassword: 'pw-2' });
    expect(second.created).toEqual(['user admin enabled', 'user admin password reset']);
    expect(await identity.passwordMatches(first.adminUserId, 'pw-2')).toBe(true);
  });
});
