import { buildDomainXml, escapeXml, DomainSpecError, STRATO_XMLNS, type DomainSpec } from './domain-xml';
import { findElement, parseXml, textOf, type XmlElement } from '../test/support/mini-xml';

const UUID = '0f8e6a52-6f0e-4b3a-9a57-3a2f0d5f1c11';

function spec(overrides: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name: 'instance-0f8e6a52',
    uuid: UUID,
    type: 'qemu',
    memoryMiB: 128,
    vcpus: 1,
    os: {
      boot: 'kernel',
      kernel: '/var/lib/strato/vmlinuz',
      initrd: '/var/lib/strato/initrd',
      cmdline: 'console=ttyS0 quiet',
    },
    ...overrides,
  };
}

const parsed = (s: DomainSpec) => parseXml(buildDomainXml(s));
const elements = (parent: XmlElement | undefined, tag: string) =>
  (parent?.children ?? []).filter((c): c is XmlElement => typeof c !== 'string' && c.tag === tag);

describe('escapeXml', () => {
  it('escapes the five XML metacharacters', () => {
    expect(escapeXml(`<a href="x">&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
  });

  it("defuses ']]>' by escaping '>'", () => {
    expect(escapeXml(']]>')).toBe(']]&gt;');
  });

  it('replaces characters XML cannot represent with U+FFFD', () => {
    expect(escapeXml('a\u0000b\u001Fc\uFFFEd\uD800e')).toBe('a\uFFFDb\uFFFDc\uFFFDd\uFFFDe');
  });

  it('keeps tabs, newlines and astral characters', () => {
    expect(escapeXml('a\tb\nc \u{1F600}')).toBe('a\tb\nc \u{1F600}');
  });
});

describe('buildDomainXml', () => {
  it('writes identity, memory in MiB and vCPUs', () => {
    const root = parsed(spec({ vcpus: 2, memoryMiB: 512 }));
    expect(root.tag).toBe('domain');
    expect(root.attrs.type).toBe('qemu');
    expect(textOf(findElement(root, 'name'))).toBe('instance-0f8e6a52');
    expect(textOf(findElement(root, 'uuid'))).toBe(UUID);
    expect(findElement(root, 'memory')?.attrs.unit).toBe('MiB');
    expect(textOf(findElement(root, 'memory'))).toBe('512');
    expect(textOf(findElement(root, 'vcpu'))).toBe('2');
  });

  it('writes direct kernel boot with initrd and command line', () => {
    const root = parsed(spec());
    expect(textOf(findElement(root, 'os/kernel'))).toBe('/var/lib/strato/vmlinuz');
    expect(textOf(findElement(root, 'os/initrd'))).toBe('/var/lib/strato/initrd');
    expect(textOf(findElement(root, 'os/cmdline'))).toBe('console=ttyS0 quiet');
    expect(findElement(root, 'os/boot')).toBeUndefined();
  });

  it('writes hd boot without kernel elements', () => {
    const root = parsed(spec({ os: { boot: 'hd' } }));
    expect(findElement(root, 'os/boot')?.attrs.dev).toBe('hd');
    expect(findElement(root, 'os/kernel')).toBeUndefined();
  });

  it('gives qemu and kvm guests ACPI (for shutdown) and no balloon', () => {
    const root = parsed(spec({ type: 'kvm', machine: 'pc' }));
    expect(findElement(root, 'features/acpi')).toBeDefined();
    expect(findElement(root, 'devices/memballoon')?.attrs.model).toBe('none');
    expect(findElement(root, 'os/type')?.attrs.machine).toBe('pc');
  });

  it('writes a virtio qcow2 disk with iotune limits', () => {
    const root = parsed(
      spec({
        disks: [
          {
            path: '/var/lib/strato/i/disk.qcow2',
            format: 'qcow2',
            targetDev: 'vda',
            iotune: { readBytesSec: 1_000_000, writeBytesSec: 500_000, totalIopsSec: 300 },
          },
        ],
      }),
    );
    const disk = findElement(root, 'devices/disk');
    expect(disk?.attrs).toEqual({ type: 'file', device: 'disk' });
    expect(findElement(disk!, 'driver')?.attrs).toEqual({ name: 'qemu', type: 'qcow2', cache: 'none' });
    expect(findElement(disk!, 'source')?.attrs.file).toBe('/var/lib/strato/i/disk.qcow2');
    expect(findElement(disk!, 'target')?.attrs).toEqual({ dev: 'vda', bus: 'virtio' });
    expect(textOf(findElement(disk!, 'iotune/read_bytes_sec'))).toBe('1000000');
    expect(textOf(findElement(disk!, 'iotune/write_bytes_sec'))).toBe('500000');
    expect(textOf(findElement(disk!, 'iotune/total_iops_sec'))).toBe('300');
    expect(findElement(disk!, 'readonly')).toBeUndefined();
  });

  it('writes a config drive as a read-only cdrom on the IDE bus', () => {
    const root = parsed(
      spec({
        disks: [{ path: '/var/lib/strato/i/config.iso', format: 'raw', targetDev: 'hdc', device: 'cdrom' }],
      }),
    );
    const disk = findElement(root, 'devices/disk');
    expect(disk?.attrs.device).toBe('cdrom');
    expect(findElement(disk!, 'target')?.attrs).toEqual({ dev: 'hdc', bus: 'ide' });
    expect(findElement(disk!, 'readonly')).toBeDefined();
  });

  it('writes a virtio network interface with inbound and outbound bandwidth', () => {
    const root = parsed(
      spec({
        interfaces: [
          {
            network: 'default',
            mac: 'FA:16:3E:00:00:01',
            bandwidth: { inbound: { average: 1000, peak: 2000, burst: 256 }, outbound: { average: 500 } },
          },
        ],
      }),
    );
    const nic = findElement(root, 'devices/interface');
    expect(nic?.attrs.type).toBe('network');
    expect(findElement(nic!, 'mac')?.attrs.address).toBe('fa:16:3e:00:00:01');
    expect(findElement(nic!, 'source')?.attrs.network).toBe('default');
    expect(findElement(nic!, 'model')?.attrs.type).toBe('virtio');
    expect(findElement(nic!, 'bandwidth/inbound')?.attrs).toEqual({
      average: '1000',
      peak: '2000',
      burst: '256',
    });
    expect(findElement(nic!, 'bandwidth/outbound')?.attrs).toEqual({ average: '500' });
  });

  it('sends the serial console to a file', () => {
    const root = parsed(spec({ serialLogPath: '/var/lib/strato/i/console.log' }));
    const serial = findElement(root, 'devices/serial');
    expect(serial?.attrs.type).toBe('file');
    expect(findElement(serial!, 'source')?.attrs.path).toBe('/var/lib/strato/i/console.log');
  });

  it('writes cputune shares, period and quota', () => {
    const root = parsed(spec({ cputune: { shares: 2048, period: 100_000, quota: 50_000 } }));
    expect(textOf(findElement(root, 'cputune/shares'))).toBe('2048');
    expect(textOf(findElement(root, 'cputune/period'))).toBe('100000');
    expect(textOf(findElement(root, 'cputune/quota'))).toBe('50000');
  });

  it('pins vCPUs to host CPUs inside cputune', () => {
    const root = parsed(
      spec({
        vcpus: 2,
        cputune: {
          vcpupin: [
            { vcpu: 0, cpuset: '2' },
            { vcpu: 1, cpuset: '0-3,^2' },
          ],
        },
      }),
    );
    const pins = findElement(root, 'cputune')!.children.filter(
      (c): c is XmlElement => typeof c !== 'string' && c.tag === 'vcpupin',
    );
    expect(pins.map((p) => p.attrs)).toEqual([
      { vcpu: '0', cpuset: '2' },
      { vcpu: '1', cpuset: '0-3,^2' },
    ]);
  });

  it('stores instance, project and flavor in a Strato-namespaced metadata element', () => {
    const root = parsed(spec({ metadata: { instanceId: 'i-1', projectId: 'p-1', flavorName: 'm1.tiny' } }));
    const meta = findElement(root, 'metadata/strato:instance');
    expect(meta?.attrs['xmlns:strato']).toBe(STRATO_XMLNS);
    expect(textOf(findElement(meta!, 'strato:id'))).toBe('i-1');
    expect(textOf(findElement(meta!, 'strato:project'))).toBe('p-1');
    expect(textOf(findElement(meta!, 'strato:flavor'))).toBe('m1.tiny');
  });

  describe('untrusted display names', () => {
    const hostile = `<name>evil</name>&amp;"'<!-- ]]> <![CDATA[x]]> </domain>`;

    it('round-trips a name full of XML metacharacters through title and metadata', () => {
      const root = parsed(
        spec({ metadata: { instanceId: 'i', projectId: 'p', flavorName: 'f', displayName: hostile } }),
      );
      expect(textOf(findElement(root, 'title'))).toBe(hostile);
      expect(textOf(findElement(root, 'metadata/strato:instance/strato:displayName'))).toBe(hostile);
      expect(textOf(findElement(root, 'name'))).toBe('instance-0f8e6a52');
      expect(elements(root, 'name')).toHaveLength(1);
    });

    it('round-trips a 10 KiB name', () => {
      const big = '<&>"\']]>'.repeat(1280);
      expect(big.length).toBe(10 * 1024);
      const root = parsed(
        spec({ metadata: { instanceId: 'i', projectId: 'p', flavorName: 'f', displayName: big } }),
      );
      expect(textOf(findElement(root, 'metadata/strato:instance/strato:displayName'))).toBe(big);
      expect(textOf(findElement(root, 'title'))).toBe(big);
    });

    it('round-trips metacharacters in attribute values', () => {
      const path = `/srv/a'b"c<d>&e]]>.qcow2`;
      const root = parsed(
        spec({ disks: [{ path, format: 'qcow2', targetDev: 'vda' }], serialLogPath: path }),
      );
      expect(findElement(root, 'devices/disk/source')?.attrs.file).toBe(path);
      expect(findElement(root, 'devices/serial/source')?.attrs.path).toBe(path);
    });

    it('keeps the title on one line (libvirt rejects newlines there) but the metadata exact', () => {
      const root = parsed(
        spec({ metadata: { instanceId: 'i', projectId: 'p', flavorName: 'f', displayName: 'a\nb' } }),
      );
      expect(textOf(findElement(root, 'title'))).toBe('a b');
      expect(textOf(findElement(root, 'metadata/strato:instance/strato:displayName'))).toBe('a\nb');
    });
  });

  describe('rejects invalid specs', () => {
    it.each<[string, Partial<DomainSpec>]>([
      ['a libvirt name with markup', { name: '<evil>' }],
      ['a libvirt name with spaces', { name: 'my vm' }],
      ['an empty libvirt name', { name: '' }],
      ['a malformed UUID', { uuid: 'not-a-uuid' }],
      ['zero memory', { memoryMiB: 0 }],
      ['fractional vCPUs', { vcpus: 1.5 }],
      ['a relative kernel path', { os: { boot: 'kernel', kernel: 'vmlinuz' } }],
      ['a relative disk path', { disks: [{ path: 'disk.qcow2', format: 'qcow2', targetDev: 'vda' }] }],
      ['an odd target device', { disks: [{ path: '/d', format: 'qcow2', targetDev: 'vda/../x' }] }],
      [
        'a cdrom on virtio',
        { disks: [{ path: '/c.iso', format: 'raw', targetDev: 'vdb', device: 'cdrom', bus: 'virtio' }] },
      ],
      [
        'total and per-direction byte limits together',
        {
          disks: [
            { path: '/d', format: 'raw', targetDev: 'vda', iotune: { totalBytesSec: 1, readBytesSec: 1 } },
          ],
        },
      ],
      ['a malformed MAC', { interfaces: [{ network: 'default', mac: 'zz' }] }],
      ['a CFS period out of range', { cputune: { period: 10 } }],
      ['a vCPU pin beyond the vCPUs', { vcpus: 1, cputune: { vcpupin: [{ vcpu: 1, cpuset: '0' }] } }],
      ['a malformed cpuset', { cputune: { vcpupin: [{ vcpu: 0, cpuset: '0;rm' }] } }],
      ['an unknown domain type', { type: 'xen' as never }],
    ])('%s', (_what, overrides) => {
      expect(() => buildDomainXml(spec(overrides))).toThrow(DomainSpecError);
    });

    it('reports the error with kind InvalidDomainSpec', () => {
      try {
        buildDomainXml(spec({ name: '<x>' }));
        throw new Error('expected a DomainSpecError');
      } catch (err) {
        expect((err as DomainSpecError).kind).toBe('InvalidDomainSpec');
      }
    });
  });
});
