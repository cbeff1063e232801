import { parseSigningKeys, TokenService } from '@strato/auth';
import { MemoryBus } from '@strato/bus';
import { MemoryCache } from '@strato/cache';
import { ec2Lookup, IDENTITY_RPC_QUEUE } from '@strato/contracts';
import { openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import { IdentityService } from '../identity.service';
import { identityEntities, identityMigrations } from '../store';
import { serveIdentityRpc } from './identity.handlers';

const log = createLogger('test', { level: 'silent' });

describe('identity.ec2_lookup over the bus', () => {
  let db: DataSource;
  let identity: IdentityService;
  let bus: MemoryBus;

  beforeAll(async () => {
    db = await openDatabase({
      url: 'sqlite::memory:',
      dataDir: '',
      schema: 'identity',
      entities: identityEntities,
      migrations: identityMigrations,
    });
    const keys = parseSigningKeys(`k1:${'s'.repeat(40)}`);
    const tokens = new TokenService({ keys, cache: new MemoryCache(), ttlSeconds: 3600 });
    identity = new IdentityService({
      db,
      tokens,
      log,
      catalog: { region: 'RegionOne', services: [] },
      secretKeys: keys,
    });
    bus = new MemoryBus({ service: 'test', log });
    await serveIdentityRpc(bus, identity);
  });

  afterAll(async () => {
    await bus.close();
    await db.destroy();
  });

  it('answers a known key with its secret, user, project and role names', async () => {
    const project = await identity.createProject({ name: 'p' });
    const user = await identity.createUser({ name: 'u', password: 'pw' });
    const member = await identity.createRole({ name: 'member' });
    await identity.grant(project.id, user.id, member.id);
    const cred = await identity.createEc2Credential(user.id, project.id);

    const reply = await bus.call(
      IDENTITY_RPC_QUEUE,
      { type: ec2Lookup.type, version: 1, payload: { access: cred.access } },
      { schema: ec2Lookup.reply },
    );
    expect(reply).toEqual({
      found: true,
      secret: cred.secret,
      user_id: user.id,
      project_id: project.id,
      roles: ['member'],
    });
  });

  it('answers an unknown key with found: false', async () => {
    const reply = await bus.call(IDENTITY_RPC_QUEUE, {
      type: ec2Lookup.type,
      version: 1,
      payload: { access: 'nope' },
    });
    expect(reply).toEqual({ found: false });
  });

  it('refuses a malformed request', async () => {
    await expect(
      bus.call(IDENTITY_RPC_QUEUE, { type: ec2Lookup.type, version: 1, payload: { access: '' } }),
    ).rejects.toMatchObject({ kind: 'Invalid' });
  });
});
