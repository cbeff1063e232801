/**
 * Which libvirt domain type guests get on a QEMU host, like Nova's [libvirt] virt_type.
 *
 * 'auto' picks KVM only when /dev/kvm exists AND the CPU advertises hardware virtualisation
 * (the vmx or svm flag in /proc/cpuinfo). /dev/kvm alone is not enough: some hosts expose a
 * software-nested KVM module (kvm_pvm) without those flags, on which stock guest kernels hang
 * in early boot. Everything else runs under QEMU's TCG emulator ('qemu'): slower, but it works
 * everywhere. x86 only: other architectures need an explicit setting.
 */
import { access, readFile } from 'node:fs/promises';

export type VirtTypeSetting = 'auto' | 'kvm' | 'qemu';
export type VirtType = 'kvm' | 'qemu';

export interface HostVirtFacts {
  /** /dev/kvm exists. */
  kvmDevice: boolean;
  /** The text of /proc/cpuinfo ('' when unreadable). */
  cpuinfo: string;
}

export interface VirtTypeChoice {
  type: VirtType;
  /** Why, in one sentence, for the log. */
  reason: string;
}

/** True when some CPU's flags line names vmx (Intel VT-x) or svm (AMD-V). */
export function hasHardwareVirtualization(cpuinfo: string): boolean {
  return cpuinfo
    .split('\n')
    .filter((line) => /^flags\s*:/.test(line))
    .some((line) => /(^|\s)(vmx|svm)(\s|$)/.test(line.slice(line.indexOf(':') + 1)));
}

/** Pure: the domain type for a setting and what the host offers. */
export function chooseVirtType(setting: VirtTypeSetting, host: HostVirtFacts): VirtTypeChoice {
  if (setting === 'kvm') {
    return {
      type: 'kvm',
      reason: host.kvmDevice ? 'configured kvm' : 'configured kvm, although /dev/kvm is missing',
    };
  }
  if (setting === 'qemu') return { type: 'qemu', reason: 'configured qemu (TCG emulation)' };
  if (!host.kvmDevice) return { type: 'qemu', reason: '/dev/kvm is missing: TCG emulation' };
  if (!hasHardwareVirtualization(host.cpuinfo)) {
    return {
      type: 'qemu',
      reason: '/dev/kvm exists but the CPU has no vmx/svm flag (nested or software KVM): TCG emulation',
    };
  }
  return { type: 'kvm', reason: '/dev/kvm exists and the CPU has hardware virtualisation' };
}

/** Reads the facts chooseVirtType needs from this host. */
export async function probeHostVirt(
  paths = { kvm: '/dev/kvm', cpuinfo: '/proc/cpuinfo' },
): Promise<HostVirtFacts> {
  const [kvmDevice, cpuinfo] = await Promise.all([
    access(paths.kvm).then(
      () => true,
      () => false,
    ),
    readFile(paths.cpuinfo, 'utf8').catch(() => ''),
  ]);
  return { kvmDevice, cpuinfo };
}
