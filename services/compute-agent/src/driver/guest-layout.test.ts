import { buildDomainXml } from '@strato/libvirt';
import { guestSpec } from './driver.contract';
import { guestDomainSpec, guestPaths, type GuestLayout } from './guest-layout';

function xml(layout: Partial<GuestLayout> = {}, displayName = 'web-1'): { xml: string; dir: string } {
  const spec = guestSpec({ displayName, vcpus: 2, memoryMb: 256 });
  const paths = guestPaths('/srv/instances', spec.instanceId);
  return {
    dir: paths.dir,
    xml: buildDomainXml(
      guestDomainSpec(spec, {
        virtType: 'kvm',
        paths,
        hasEphemeral: false,
        configDriveBus: 'ide',
        kernel: null,
        network: 'default',
        controls: { dedicatedCpus: false },
        vcpuPins: [],
        ...layout,
      }),
    ),
  };
}

describe('a real guest’s domain', () => {
  it('boots the qcow2 overlay from the disk with a virtio NIC and the serial console in its directory', () => {
    const { xml: doc, dir } = xml();
    expect(doc).toContain("<domain type='kvm'>");
    expect(doc).toContain("<boot dev='hd'/>");
    expect(doc).toContain(`<source file='${dir}/disk'/>`);
    expect(doc).toContain("<driver name='qemu' type='qcow2' cache='none'/>");
    expect(doc).toContain("<target dev='vda' bus='virtio'/>");
    expect(doc).toMatch(
      /<interface type='network'>\s*<source network='default'\/>\s*<model type='virtio'\/>/,
    );
    expect(doc).toContain(`<serial type='file'>`);
    expect(doc).toContain(`<source path='${dir}/console.log'/>`);
    expect(doc).toContain("<memory unit='MiB'>256</memory>");
    expect(doc).toContain("<vcpu placement='static'>2</vcpu>");
  });

  it('uses direct kernel boot with the copied kernel and ramdisk and the command line', () => {
    const { xml: doc, dir } = xml({ kernel: { ramdisk: true, cmdline: 'console=ttyS0 root=/dev/vda rw' } });
    expect(doc).toContain(`<kernel>${dir}/kernel</kernel>`);
    expect(doc).toContain(`<initrd>${dir}/ramdisk</initrd>`);
    expect(doc).toContain('<cmdline>console=ttyS0 root=/dev/vda rw</cmdline>');
    expect(doc).not.toContain('<boot ');
  });

  it('attaches the ephemeral disk as vdb', () => {
    const { xml: doc, dir } = xml({ hasEphemeral: true });
    expect(doc).toMatch(new RegExp(`<source file='${dir}/disk.eph0'/>\\s*<target dev='vdb' bus='virtio'/>`));
  });

  it.each([
    ['ide', "device='cdrom'", "<target dev='hda' bus='ide'/>"],
    ['sata', "device='cdrom'", "<target dev='sda' bus='sata'/>"],
    ['virtio', "device='disk'", "<target dev='vdz' bus='virtio'/>"],
  ] as const)('attaches the config drive on %s, read-only', (bus, device, target) => {
    const { xml: doc, dir } = xml({ configDriveBus: bus });
    const drive = /<disk [^>]*>(?:(?!<\/disk>)[\s\S])*disk\.config[\s\S]*?<\/disk>/.exec(doc)?.[0] ?? '';
    expect(drive).toContain(device);
    expect(drive).toContain(`<source file='${dir}/disk.config'/>`);
    expect(drive).toContain(target);
    expect(drive).toContain('<readonly/>');
  });

  it('has no NIC when there is no network, and no config drive when none is asked for', () => {
    const { xml: doc } = xml({ network: null, configDriveBus: null });
    expect(doc).not.toContain('<interface');
    expect(doc).not.toContain('disk.config');
  });

  it("keeps the user's name escaped in the title only", () => {
    const { xml: doc } = xml({}, `<evil name='x'>&`);
    expect(doc).toContain('<title>&lt;evil name=&apos;x&apos;&gt;&amp;</title>');
    expect(doc).toMatch(/<name>instance-[0-9a-f-]{36}<\/name>/);
  });
});
