/**
 * createImage through the whole stack as separate processes (PostgreSQL, RabbitMQ, Redis):
 * a tenant runs `openstack server image create --name snap1 --wait vm1`; the api creates the
 * queued image in the tenant's project, the compute agent copies the guest's disk and uploads
 * it to the image service with its own service token, and the image ends ACTIVE, owned by the
 * tenant, with the disk's bytes (checksum), image_type=snapshot, and a server boots from it.
 *
 * The agent runs the in-memory hypervisor (HYPERVISOR_DRIVER=fake), whose snapshot is a small
 * file naming the guest and its image: LibvirtDriver.snapshot has no test:///default path yet.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openstack } from '../support/stack';
import { startComputeStack, type ComputeStack } from '../support/compute-stack';

jest.setTimeout(240_000);

type Row = Record<string, unknown>;

describe('server image create on separate processes', () => {
  let stack: ComputeStack;
  let tenant: Record<string, string>;
  let projectId: string;
  const work = mkdtempSync(join(tmpdir(), 'strato-snapshot-test-'));

  beforeAll(async () => {
    stack = await startComputeStack();
    await stack.startAgents({
      hosts: ['snaphost'],
      env: {
        HYPERVISOR_DRIVER: 'fake',
        IMAGE_URL: stack.env.IMAGE_PUBLIC_URL!,
        REPORT_INTERVAL_MS: '300',
        POWER_SYNC_INTERVAL_MS: '1000',
      },
    });
    const admin = stack.cli;
    const suffix = randomBytes(3).toString('hex');
    const project = (await openstack(['project', 'create', `snap-${suffix}`, '-f', 'json'], admin)) as Row;
    projectId = String(project.id);
    await openstack(
      [
        'user',
        'create',
        '--project',
        `snap-${suffix}`,
        '--password',
        'pw',
        `snapper-${suffix}`,
        '-f',
        'json',
      ],
      admin,
    );
    await openstack(
      ['role', 'add', '--project', `snap-${suffix}`, '--user', `snapper-${suffix}`, 'member'],
      admin,
    );
    tenant = {
      ...admin,
      OS_USERNAME: `snapper-${suffix}`,
      OS_PASSWORD: 'pw',
      OS_PROJECT_NAME: `snap-${suffix}`,
    };
  });

  afterAll(async () => {
    await stack?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("makes an ACTIVE image of the server's disk, owned by the tenant, that boots", async () => {
    const cli = (...args: string[]) => openstack(args, tenant);
    const base = join(work, 'base.img');
    writeFileSync(base, Buffer.alloc(32 * 1024, 3));
    const baseImage = (await cli(
      'image',
      'create',
      '--file',
      base,
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      '--property',
      'os_distro=strato-test',
      'base',
      '-f',
      'json',
    )) as Row;
    const vm = (await cli(
      'server',
      'create',
      '--flavor',
      'm1.tiny',
      '--image',
      'base',
      '--wait',
      'vm1',
      '-f',
      'json',
    )) as Row;
    expect(vm.status).toBe('ACTIVE');

    const made = (await cli(
      'server',
      'image',
      'create',
      '--name',
      'snap1',
      '--wait',
      'vm1',
      '-f',
      'json',
    )) as Row;
    expect(made).toMatchObject({ name: 'snap1', status: 'active' });

    const image = (await cli('image', 'show', 'snap1', '-f', 'json')) as Row;
    const disk = `strato fake disk of ${String(vm.id)} from image ${String(baseImage.id)}\n`;
    expect(image).toMatchObject({
      status: 'active',
      owner: projectId,
      visibility: 'private',
      disk_format: 'raw',
      container_format: 'bare',
      size: Buffer.byteLength(disk),
      checksum: createHash('md5').update(disk).digest('hex'),
      min_disk: 1,
    });
    expect(image.properties).toMatchObject({
      image_type: 'snapshot',
      instance_uuid: vm.id,
      base_image_ref: baseImage.id,
      os_distro: 'strato-test',
    });
    const saved = join(work, 'snap1.img');
    await cli('image', 'save', '--file', saved, 'snap1');
    expect(readFileSync(saved, 'utf8')).toBe(disk);

    const after = (await cli('server', 'show', 'vm1', '-f', 'json')) as Row;
    expect(after).toMatchObject({ status: 'ACTIVE', 'OS-EXT-STS:task_state': null });

    const vm2 = (await cli(
      'server',
      'create',
      '--flavor',
      'm1.tiny',
      '--image',
      'snap1',
      '--wait',
      'vm2',
      '-f',
      'json',
    )) as Row;
    expect(vm2.status).toBe('ACTIVE');

    await cli('server', 'delete', '--wait', 'vm1', 'vm2');
    await cli('image', 'delete', 'snap1', 'base');
    expect(await cli('image', 'list', '-f', 'json')).toEqual([]);
  });
});
