import { buildDomainXml } from '@strato/libvirt';
import { guestSpec } from './driver.contract';
import { guestDomainSpec, guestPaths } from './guest-layout';
import { pinVcpus, pinnedCpus, resourceControls } from './resource-controls';

/** The domain XML of a real guest whose flavor has these extra_specs. */
function xmlFor(
  extraSpecs: Record<string, string>,
  options: { vcpus?: number; ephemeral?: boolean } = {},
): string {
  const spec = guestSpec({ extraSpecs, vcpus: options.vcpus ?? 1 });
  const controls = resourceControls(extraSpecs);
  return buildDomainXml(
    guestDomainSpec(spec, {
      virtType: 'qemu',
      paths: guestPaths('/srv/instances', spec.instanceId),
      hasEphemeral: options.ephemeral ?? false,
      configDriveBus: 'ide',
      kernel: null,
      network: 'default',
      controls,
      vcpuPins: controls.dedicatedCpus ? pinVcpus(spec.vcpus, 4, new Map()) : [],
    }),
  );
}

/** The text of every <tag> element, in order. */
const texts = (xml: string, tag: string) =>
  [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => m[1]);

describe('resourceControls: flavor extra_specs into the domain XML', () => {
  it('puts quota:cpu_shares, cpu_period and cpu_quota into cputune', () => {
    const xml = xmlFor({
      'quota:cpu_shares': '2048',
      'quota:cpu_period': '100000',
      'quota:cpu_quota': '50000',
    });
    expect(xml).toMatch(
      /<cputune>\s*<shares>2048<\/shares>\s*<period>100000<\/period>\s*<quota>50000<\/quota>\s*<\/cputune>/,
    );
  });

  it('accepts quota:cpu_quota=-1 as "no limit"', () => {
    expect(texts(xmlFor({ 'quota:cpu_quota': '-1' }), 'quota')).toEqual(['-1']);
  });

  it('pins each vCPU to a host CPU of its own for hw:cpu_policy=dedicated', () => {
    const xml = xmlFor({ 'hw:cpu_policy': 'dedicated' }, { vcpus: 2 });
    expect(xml).toContain("<vcpupin vcpu='0' cpuset='0'/>");
    expect(xml).toContain("<vcpupin vcpu='1' cpuset='1'/>");
  });

  it('writes no cputune for hw:cpu_policy=shared and no quota keys', () => {
    expect(xmlFor({ 'hw:cpu_policy': 'shared' })).not.toContain('<cputune');
  });

  it('limits every writable disk with the quota:disk_* keys, and not the config drive', () => {
    const xml = xmlFor(
      {
        'quota:disk_read_bytes_sec': '10485760',
        'quota:disk_write_bytes_sec': '5242880',
        'quota:disk_read_iops_sec': '500',
        'quota:disk_write_iops_sec': '300',
      },
      { ephemeral: true },
    );
    const disks = [...xml.matchAll(/<disk [^>]*>[\s\S]*?<\/disk>/g)].map((m) => m[0]);
    expect(disks).toHaveLength(3);
    for (const disk of disks.filter((d) => d.includes("device='disk'"))) {
      expect(disk).toContain('<read_bytes_sec>10485760</read_bytes_sec>');
      expect(disk).toContain('<write_bytes_sec>5242880</write_bytes_sec>');
      expect(disk).toContain('<read_iops_sec>500</read_iops_sec>');
      expect(disk).toContain('<write_iops_sec>300</write_iops_sec>');
    }
    expect(disks.find((d) => d.includes("device='cdrom'"))).not.toContain('<iotune>');
  });

  it('writes the total disk limits', () => {
    const xml = xmlFor({ 'quota:disk_total_bytes_sec': '1000000', 'quota:disk_total_iops_sec': '100' });
    expect(texts(xml, 'total_bytes_sec')).toEqual(['1000000']);
    expect(texts(xml, 'total_iops_sec')).toEqual(['100']);
  });

  it('shapes the NIC with quota:vif_* as libvirt <bandwidth> (KiB/s, burst KiB)', () => {
    const xml = xmlFor({
      'quota:vif_inbound_average': '10240',
      'quota:vif_inbound_peak': '20480',
      'quota:vif_inbound_burst': '4096',
      'quota:vif_outbound_average': '5120',
    });
    expect(xml).toMatch(
      /<interface type='network'>[\s\S]*<bandwidth>\s*<inbound average='10240' peak='20480' burst='4096'\/>\s*<outbound average='5120'\/>\s*<\/bandwidth>/,
    );
  });

  it('treats 0 as "no limit"', () => {
    const xml = xmlFor({ 'quota:disk_read_iops_sec': '0', 'quota:vif_outbound_average': '0' });
    expect(xml).not.toContain('<iotune>');
    expect(xml).not.toContain('<bandwidth>');
  });

  it('leaves keys it does not know alone', () => {
    expect(resourceControls({ 'capabilities:hypervisor_type': 'QEMU', 'hw:mem_page_size': 'large' })).toEqual(
      {
        dedicatedCpus: false,
      },
    );
  });

  it.each([
    ['a non-integer', { 'quota:cpu_shares': '1.5' }],
    ['text', { 'quota:disk_read_bytes_sec': 'fast' }],
    ['a negative limit', { 'quota:disk_write_iops_sec': '-5' }],
    ['a negative share', { 'quota:cpu_shares': '-1' }],
    ['a CFS period out of range', { 'quota:cpu_period': '100' }],
    ['a CFS quota below 1000 other than -1', { 'quota:cpu_quota': '-2' }],
    [
      'total and per-direction byte limits together',
      { 'quota:disk_total_bytes_sec': '1', 'quota:disk_read_bytes_sec': '1' },
    ],
    [
      'total and per-direction IOPS limits together',
      { 'quota:disk_total_iops_sec': '1', 'quota:disk_write_iops_sec': '1' },
    ],
    ['a peak without an average', { 'quota:vif_inbound_peak': '100' }],
    ['an unknown CPU policy', { 'hw:cpu_policy': 'exclusive' }],
  ])('refuses %s as Invalid, naming the key', (_what, specs) => {
    const key = Object.keys(specs)[0]!.replace(/^quota:|^hw:/, '');
    expect(() => resourceControls(specs)).toThrow(expect.objectContaining({ kind: 'Invalid' }));
    expect(() => resourceControls(specs)).toThrow(new RegExp(key.split('_')[0]!));
  });
});

describe('pinVcpus', () => {
  it('prefers the host CPUs other guests pinned least, lowest first', () => {
    const pins = pinVcpus(
      2,
      4,
      new Map([
        [0, 2],
        [1, 1],
      ]),
    );
    expect(pins).toEqual([
      { vcpu: 0, cpuset: '2' },
      { vcpu: 1, cpuset: '3' },
    ]);
  });

  it('shares CPUs when none are free (best effort)', () => {
    const pins = pinVcpus(
      2,
      2,
      new Map([
        [0, 1],
        [1, 1],
      ]),
    );
    expect(pins.map((p) => p.cpuset)).toEqual(['0', '1']);
  });

  it('refuses more vCPUs than the host has CPUs', () => {
    expect(() => pinVcpus(8, 4, new Map())).toThrow(expect.objectContaining({ kind: 'Invalid' }));
  });

  it('counts the pins found in other guests’ XML', () => {
    const counts = pinnedCpus([
      "<cputune><vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='3'/></cputune>",
      "<cputune><vcpupin vcpu='0' cpuset='1'/></cputune>",
    ]);
    expect(Object.fromEntries(counts)).toEqual({ 1: 2, 3: 1 });
  });
});
