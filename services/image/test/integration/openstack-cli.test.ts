/**
 * The real client: python-openstackclient (Debian's 6.0, through openstacksdk) drives the
 * image service. Without Keystone it is pointed at the image endpoint with a token
 * (`--os-auth-type admin_token`, OS_ENDPOINT=<image>/v2, OS_TOKEN=<minted token>).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startHarness, type Harness } from './harness';

const run = promisify(execFile);

describe('openstack image commands', () => {
  let h: Harness;
  let env: NodeJS.ProcessEnv;

  async function openstack(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run('openstack', args, { env, timeout: 60_000 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`openstack ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
    }
  }

  beforeAll(async () => {
    h = await startHarness();
    env = {
      PATH: process.env.PATH,
      HOME: h.dir,
      OS_AUTH_TYPE: 'admin_token',
      OS_ENDPOINT: `${h.base}/v2`,
      OS_TOKEN: h.token('cli-project'),
    };
  });
  afterAll(() => h.close());

  it('creates, lists, shows, sets, saves and deletes an image', async () => {
    const file = join(h.dir, 'disk.qcow2');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    writeFileSync(file, data);
    const md5 = createHash('md5').update(data).digest('hex');

    const created = JSON.parse(
      await openstack(
        'image',
        'create',
        '--file',
        file,
        '--disk-format',
        'qcow2',
        '--container-format',
        'bare',
        'img1',
        '-f',
        'json',
      ),
    );
    expect(created).toMatchObject({ name: 'img1', disk_format: 'qcow2', container_format: 'bare' });

    const list = JSON.parse(await openstack('image', 'list', '-f', 'json'));
    expect(list).toEqual([{ ID: created.id, Name: 'img1', Status: 'active' }]);

    const shown = JSON.parse(await openstack('image', 'show', 'img1', '-f', 'json'));
    expect(shown).toMatchObject({
      id: created.id,
      status: 'active',
      checksum: md5,
      size: data.length,
      owner: 'cli-project',
    });

    await openstack('image', 'set', '--property', 'k=v', '--tag', 'blue', 'img1');
    const updated = JSON.parse(await openstack('image', 'show', 'img1', '-f', 'json'));
    expect(updated.properties).toMatchObject({ k: 'v' });
    expect(updated.tags).toEqual(['blue']);

    const out = join(h.dir, 'saved.img');
    await openstack('image', 'save', '--file', out, 'img1');
    expect(createHash('md5').update(readFileSync(out)).digest('hex')).toBe(md5);

    await openstack('image', 'delete', 'img1');
    expect(JSON.parse(await openstack('image', 'list', '-f', 'json'))).toEqual([]);
    expect(h.swift!.objects()).toEqual([]);
  }, 120_000);
});
