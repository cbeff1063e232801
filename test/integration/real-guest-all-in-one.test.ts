/**
 * The embedded default with real guests: `deploy/all-in-one.ts` (what `npm start` runs) with
 * LIBVIRT_URI=qemu:///system boots the test guest through the openstack CLI, its console shows
 * the name it read from the config drive, and delete leaves no domain. (On hosts with vmx/svm
 * the all-in-one picks qemu:///system by itself; here it is asked to, and runs TCG.)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminEnv, allInOneEnv, startProcess, type ServiceProcess } from '../support/stack';
import { waitFor } from '../support/compute-stack';
import { GUEST_DIR, buildTestGuest, removeGuestsUnder, virsh, withLibvirtd } from '../support/guest';

const run = promisify(execFile);

jest.setTimeout(600_000);

withLibvirtd('all-in-one on qemu:///system', () => {
  let dataDir: string;
  let proc: ServiceProcess;
  let cliEnv: Record<string, string>;
  const os = async (...args: string[]) =>
    (
      await run('openstack', args, {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...cliEnv },
        timeout: 180_000,
      })
    ).stdout;

  beforeAll(async () => {
    await buildTestGuest();
    dataDir = mkdtempSync(join(tmpdir(), 'strato-aio-guest-')); // 0700: the all-in-one opens it for QEMU
    const env = await allInOneEnv(dataDir);
    proc = await startProcess(
      'all-in-one',
      'deploy/all-in-one.ts',
      { ...env, LIBVIRT_URI: 'qemu:///system', RESERVED_HOST_MEMORY_MB: '0', SHUTDOWN_GRACE_MS: '0' },
      `http://127.0.0.1:${env.IDENTITY_PORT}/readyz`,
      120_000,
    );
    cliEnv = adminEnv(env.IDENTITY_PUBLIC_URL!, readFileSync(join(dataDir, 'admin-password'), 'utf8').trim());
  });

  afterAll(async () => {
    await proc?.stop();
    if (dataDir) {
      await removeGuestsUnder(dataDir); // a failed run must not leave its guest behind
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('boots the test guest, shows its console, and deletes it', async () => {
    const image = async (file: string, format: string, ...extra: string[]) =>
      (
        JSON.parse(
          await os(
            'image',
            'create',
            '--file',
            join(GUEST_DIR, file),
            '--disk-format',
            format,
            ...extra,
            '-f',
            'json',
          ),
        ) as { id: string }
      ).id;
    const kernel = await image('vmlinuz', 'aki', '--container-format', 'aki', 'aio-kernel');
    const ramdisk = await image('initrd.img', 'ari', '--container-format', 'ari', 'aio-ramdisk');
    await image(
      'disk.qcow2',
      'qcow2',
      '--container-format',
      'bare',
      '--property',
      `kernel_id=${kernel}`,
      '--property',
      `ramdisk_id=${ramdisk}`,
      'aio-disk',
    );
    await os('flavor', 'create', '--vcpus', '1', '--ram', '128', '--disk', '1', 'aio.tiny');
    const status = await os(
      'server',
      'create',
      '--flavor',
      'aio.tiny',
      '--image',
      'aio-disk',
      '--wait',
      'aio-vm',
      '-c',
      'status',
      '-f',
      'value',
    );
    expect(status.trim()).toBe('ACTIVE');
    const id = (await os('server', 'show', 'aio-vm', '-c', 'id', '-f', 'value')).trim();
    await waitFor(
      'the guest to print its name',
      () => os('console', 'log', 'show', 'aio-vm'),
      (text) => text.includes('STRATO-GUEST-NAME: aio-vm'),
      { timeoutMs: 240_000, everyMs: 2000, describe: (t) => t.slice(-1000) },
    );
    await os('server', 'delete', '--wait', 'aio-vm');
    const left = await virsh('list', '--all', '--name');
    expect(left).not.toContain(`instance-${id}`);
  });
});
