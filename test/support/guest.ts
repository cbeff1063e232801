/**
 * What the real-guest tests and bench:kvm share: libvirtd on qemu:///system, and the test
 * guest that deploy/guest/build-test-guest.sh builds (cached under data/guest).
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

/** Where the test guest's vmlinuz, initrd.img and disk.qcow2 are. */
export const GUEST_DIR = join(ROOT, 'data', 'guest');

/** Builds the test guest (a no-op when its stamp is current). */
export async function buildTestGuest(): Promise<void> {
  await run('bash', [join(ROOT, 'deploy/guest/build-test-guest.sh'), GUEST_DIR], {
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** virsh on qemu:///system; its standard output. */
export async function virsh(...args: string[]): Promise<string> {
  return (await run('virsh', ['-c', 'qemu:///system', ...args], { timeout: 120_000 })).stdout;
}

/** Whether a libvirtd answers on qemu:///system here. */
export function libvirtdAnswers(): boolean {
  try {
    execFileSync('virsh', ['-c', 'qemu:///system', 'version'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * A real-guest suite: run always in CI (which installs and starts libvirtd, so a missing one
 * fails there) and elsewhere only where a libvirtd answers, since no real guest boots without
 * one (the suite is then skipped for that reason).
 */
export function withLibvirtd(name: string, suite: () => void): void {
  (process.env.CI === 'true' || libvirtdAnswers() ? describe : describe.skip)(name, suite);
}

/** Destroys and undefines every domain whose files are under dir (a failed run's leftovers). */
export async function removeGuestsUnder(dir: string): Promise<void> {
  const names = (await virsh('list', '--all', '--name').catch(() => ''))
    .split('\n')
    .map((n) => n.trim())
    .filter(Boolean);
  for (const name of names) {
    const xml = await virsh('dumpxml', name).catch(() => '');
    if (!xml.includes(dir)) continue;
    await virsh('destroy', name).catch(() => undefined);
    await virsh('undefine', name).catch(() => undefined);
  }
}
