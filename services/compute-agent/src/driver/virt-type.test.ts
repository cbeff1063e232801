import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseVirtType, hasHardwareVirtualization, probeHostVirt } from './virt-type';

const cpuinfo = (flags: string) =>
  `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: ${flags}\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: ${flags}\n`;

describe('virt_type', () => {
  it('picks kvm on auto when /dev/kvm exists and the CPU has vmx', () => {
    expect(chooseVirtType('auto', { kvmDevice: true, cpuinfo: cpuinfo('fpu vme vmx sse2') }).type).toBe(
      'kvm',
    );
  });

  it('picks kvm on auto with AMD svm', () => {
    expect(chooseVirtType('auto', { kvmDevice: true, cpuinfo: cpuinfo('fpu svm') }).type).toBe('kvm');
  });

  it('does not trust /dev/kvm alone: no vmx/svm flag means TCG, and says why', () => {
    const choice = chooseVirtType('auto', { kvmDevice: true, cpuinfo: cpuinfo('fpu vme sse2 hypervisor') });
    expect(choice.type).toBe('qemu');
    expect(choice.reason).toMatch(/no vmx\/svm/);
  });

  it('uses TCG on auto without /dev/kvm, even with the flags', () => {
    expect(chooseVirtType('auto', { kvmDevice: false, cpuinfo: cpuinfo('vmx') })).toMatchObject({
      type: 'qemu',
      reason: expect.stringContaining('/dev/kvm is missing') as unknown,
    });
  });

  it('follows an explicit setting', () => {
    expect(chooseVirtType('qemu', { kvmDevice: true, cpuinfo: cpuinfo('vmx') }).type).toBe('qemu');
    expect(chooseVirtType('kvm', { kvmDevice: false, cpuinfo: '' }).type).toBe('kvm');
  });

  it('reads only the flags lines, whole words', () => {
    expect(hasHardwareVirtualization('model name\t: vmx-like CPU\nflags\t\t: fpu\n')).toBe(false);
    expect(hasHardwareVirtualization('flags\t\t: fpu vmxe\n')).toBe(false);
    expect(hasHardwareVirtualization('flags\t\t: vmx\n')).toBe(true);
  });

  it('probes the device and cpuinfo files it is given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strato-virt-'));
    try {
      await writeFile(join(dir, 'cpuinfo'), cpuinfo('svm'));
      expect(await probeHostVirt({ kvm: join(dir, 'kvm'), cpuinfo: join(dir, 'cpuinfo') })).toEqual({
        kvmDevice: false,
        cpuinfo: cpuinfo('svm'),
      });
      await writeFile(join(dir, 'kvm'), '');
      expect((await probeHostVirt({ kvm: join(dir, 'kvm'), cpuinfo: join(dir, 'none') })).kvmDevice).toBe(
        true,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
