import { configDriveFiles, metaData, sanitizeHostname, type ConfigDriveInput } from './config-drive';

const ID = '0b6c4a7e-1d2f-4c3b-9a8e-5f6d7c8b9a01';

function input(overrides: Partial<ConfigDriveInput> = {}): ConfigDriveInput {
  return {
    instanceId: ID,
    displayName: 'web-1',
    projectId: 'p1',
    availabilityZone: 'nova',
    metadata: {},
    userData: null,
    keyName: null,
    keyData: null,
    ...overrides,
  };
}

const file = (files: ReturnType<typeof configDriveFiles>, path: string) => files.find((f) => f.path === path);

describe('config drive content', () => {
  it('writes meta_data.json with the OpenStack fields', () => {
    const doc = metaData(input({ displayName: 'My Web', metadata: { role: 'db', tier: '1' } }));
    expect(doc).toEqual({
      uuid: ID,
      name: 'My Web',
      hostname: 'my-web',
      project_id: 'p1',
      launch_index: 0,
      availability_zone: 'nova',
      meta: { role: 'db', tier: '1' },
    });
  });

  it('lists the key pair under public_keys and keys, by its name', () => {
    const doc = metaData(input({ keyName: 'laptop', keyData: 'ssh-ed25519 AAAA me@host' }));
    expect(doc.public_keys).toEqual({ laptop: 'ssh-ed25519 AAAA me@host' });
    expect(doc.keys).toEqual([{ name: 'laptop', type: 'ssh', data: 'ssh-ed25519 AAAA me@host' }]);
  });

  it("names a key without a key pair name 'key'", () => {
    expect(metaData(input({ keyData: 'ssh-rsa AAAA' })).public_keys).toEqual({ key: 'ssh-rsa AAAA' });
  });

  it('writes user_data decoded, byte for byte, and only when given', () => {
    const raw = Buffer.from([0x23, 0x21, 0x00, 0xff, 0x0a]);
    const withData = configDriveFiles(input({ userData: raw.toString('base64') }));
    expect(file(withData, 'openstack/latest/user_data')?.data).toEqual(raw);
    expect(file(configDriveFiles(input()), 'openstack/latest/user_data')).toBeUndefined();
  });

  it('writes the same documents under latest and a dated version', () => {
    const files = configDriveFiles(input({ userData: Buffer.from('x').toString('base64') }));
    const latest = files
      .filter((f) => f.path.startsWith('openstack/latest/'))
      .map((f) => f.path.split('/')[2]);
    const dated = files
      .filter((f) => /^openstack\/\d{4}-\d{2}-\d{2}\//.test(f.path))
      .map((f) => f.path.split('/')[2]);
    expect(latest.sort()).toEqual(['meta_data.json', 'network_data.json', 'user_data', 'vendor_data.json']);
    expect(dated.sort()).toEqual(latest.sort());
    const meta = JSON.parse(file(files, 'openstack/latest/meta_data.json')!.data.toString('utf8')) as {
      uuid: string;
    };
    expect(meta.uuid).toBe(ID);
  });

  it('keeps a display name full of JSON and shell metacharacters exact in the name field', () => {
    const name = `a"b\\c$(rm -rf /)\n<x>`;
    const files = configDriveFiles(input({ displayName: name }));
    const meta = JSON.parse(file(files, 'openstack/latest/meta_data.json')!.data.toString('utf8')) as {
      name: string;
      hostname: string;
    };
    expect(meta.name).toBe(name);
    expect(meta.hostname).toMatch(/^[a-z0-9.-]+$/);
  });
});

describe('sanitizeHostname', () => {
  it.each([
    ['Web Server_1', 'web-server-1'],
    ['--db..01--', 'db.01'],
    ['ünïcödé', 'ncd'],
    ['a'.repeat(80), 'a'.repeat(63)],
  ])('%s -> %s', (name, host) => {
    expect(sanitizeHostname(name, ID)).toBe(host);
  });

  it('falls back to server-<uuid> when nothing usable is left', () => {
    expect(sanitizeHostname('!!!', ID)).toBe(`server-${ID}`);
  });
});
