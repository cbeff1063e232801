/**
 * What the real-guest tests and bench:kvm share: libvirtd on qemu:///system, and the test
 * guest that deploy/guest/build-test-guest.sh builds (cached under data/guest).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
 * Seconds a guest may take to boot here for the real-guest suites to run. They boot six to
 * eight guests and drive each through its life; on this kind of machine a boot under TCG
 * emulation was measured at 7-33 s. On a host where it takes minutes (measured 60-110 s on
 * one), the suites spend most of CI's time there, every process starved by the emulated
 * guests, and time out.
 */
export const GUEST_BOOT_BUDGET_S = 35;

let bootProbe: string | null | undefined;

/**
 * Why real guests cannot be tested on this host in reasonable time, or null when they can:
 * the test guest is booted once directly through libvirt (deploy/guest/probe-boot.sh) and must
 * reach its ready marker within GUEST_BOOT_BUDGET_S. Measured once per machine boot (the
 * figure is kept beside the guest) and printed either way.
 */
export function guestBootProblem(): string | null {
  if (bootProbe !== undefined) return bootProbe;
  const opts = { cwd: ROOT, encoding: 'utf8' as const, timeout: 900_000, maxBuffer: 16 * 1024 * 1024 };
  execFileSync('bash', [join(ROOT, 'deploy/guest/build-test-guest.sh'), GUEST_DIR], opts);
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const stamp = join(GUEST_DIR, 'boot-probe');
  let measured = existsSync(stamp) ? readFileSync(stamp, 'utf8').split('\n') : [];
  if (measured[0] !== bootId) {
    const out = execFileSync(
      'bash',
      [join(ROOT, 'deploy/guest/probe-boot.sh'), GUEST_DIR, String(GUEST_BOOT_BUDGET_S)],
      opts,
    ).trim();
    measured = [bootId, out];
    writeFileSync(stamp, measured.join('\n'));
  }
  const result = measured[1] ?? '';
  bootProbe = result.startsWith('over')
    ? `the test guest did not boot within ${GUEST_BOOT_BUDGET_S} s here (directly through libvirt, ` +
      `without Strato): emulation on this host is too slow for the real-guest suites`
    : null;
  process.stderr.write(
    bootProbe
      ? `real-guest suites skipped: ${bootProbe}\n`
      : `real-guest suites: the test guest boots here in ${result} s\n`,
  );
  return bootProbe;
}

/**
 * A real-guest suite: run always in CI (which installs and starts libvirtd, so a missing one
 * fails there) and elsewhere only where a libvirtd answers, since no real guest boots without
 * one; and only where a guest boots within GUEST_BOOT_BUDGET_S (guestBootProblem), else it is
 * skipped with the measured reason printed.
 */
export function withLibvirtd(name: string, suite: () => void): void {
  const runs = (process.env.CI === 'true' || libvirtdAnswers()) && guestBootProblem() === null;
  (runs ? describe : describe.skip)(name, suite);
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
