/**
 * Libvirt domain XML from typed data (like nova's libvirt config.py). Every text node and
 * attribute value goes through `escapeXml`; nothing is concatenated raw. The libvirt domain
 * name must be a conservative identifier (Strato uses 'instance-<uuid>'); the user-facing
 * display name, which may contain anything, lives only in <title> and in Strato's metadata
 * element, escaped.
 */

export const STRATO_XMLNS = 'https://strato.dev/xmlns/libvirt/instance/1.0';

export type DomainType = 'kvm' | 'qemu' | 'test';

export type OsBoot =
  /** Direct kernel boot: the hypervisor loads kernel (and initrd) itself. */
  | { boot: 'kernel'; kernel: string; initrd?: string; cmdline?: string }
  /** Firmware boots from the first disk. */
  | { boot: 'hd' };

export interface DiskIoTune {
  totalBytesSec?: number;
  readBytesSec?: number;
  writeBytesSec?: number;
  totalIopsSec?: number;
  readIopsSec?: number;
  writeIopsSec?: number;
}

export interface DiskSpec {
  /** Absolute path of the image file. */
  path: string;
  format: 'qcow2' | 'raw';
  /** Guest device name: vda, vdb, sda, hdc... */
  targetDev: string;
  /** Default: 'virtio' for disks, 'ide' for cdroms (virtio cannot carry a cdrom). */
  bus?: 'virtio' | 'sata' | 'scsi' | 'ide';
  /** 'cdrom' for an ISO config drive; default 'disk'. A cdrom is always read-only. */
  device?: 'disk' | 'cdrom';
  readonly?: boolean;
  /** Host cache mode; default 'none' (O_DIRECT) for disks. */
  cache?: 'none' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe';
  iotune?: DiskIoTune;
}

/** Rates in KiB/s, burst in KiB, as libvirt's <bandwidth> expects. */
export interface BandwidthLimit {
  average: number;
  peak?: number;
  burst?: number;
}

export interface InterfaceSpec {
  /** A libvirt network name ('default'). */
  network: string;
  /** Guest MAC address (aa:bb:cc:dd:ee:ff); libvirt generates one when absent. */
  mac?: string;
  model?: 'virtio' | 'e1000' | 'rtl8139';
  bandwidth?: { inbound?: BandwidthLimit; outbound?: BandwidthLimit };
}

export interface CpuTune {
  /** Relative CPU weight (cgroup shares). */
  shares?: number;
  /** CFS period in µs (1000-1000000). */
  period?: number;
  /** CFS quota in µs per period; -1 means unlimited. */
  quota?: number;
  /** Pins guest vCPUs to host CPUs: each entry's cpuset is a libvirt CPU list ('2', '0-3,^1'). */
  vcpupin?: readonly VcpuPin[];
}

export interface VcpuPin {
  /** Guest vCPU index (0-based, below the domain's vcpus). */
  vcpu: number;
  cpuset: string;
}

export interface StratoMetadata {
  instanceId: string;
  projectId: string;
  flavorName: string;
  /** The user's name for the instance: free text, stored escaped, never used as an identifier. */
  displayName?: string;
}

export interface DomainSpec {
  /** libvirt domain name: letters, digits, '.', '_', '-' (max 200), e.g. 'instance-<uuid>'. */
  name: string;
  uuid: string;
  type: DomainType;
  memoryMiB: number;
  vcpus: number;
  os: OsBoot;
  /** Guest architecture, default x86_64. */
  arch?: 'x86_64' | 'aarch64' | 'i686';
  /** QEMU machine type, e.g. 'pc' or 'q35' (ignored for the test driver). */
  machine?: string;
  /** Human title shown by virsh; defaults to metadata.displayName. Newlines become spaces. */
  title?: string;
  disks?: DiskSpec[];
  interfaces?: InterfaceSpec[];
  /** Write the guest's first serial port (its console) to this file. */
  serialLogPath?: string;
  cputune?: CpuTune;
  metadata?: StratoMetadata;
}

export class DomainSpecError extends Error {
  readonly kind = 'InvalidDomainSpec' as const;

  constructor(message: string) {
    super(message);
    this.name = 'DomainSpecError';
  }
}

const ENTITY: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/**
 * XML 1.0 `Char`: XML cannot carry other code points at all, not even as character
 * references (C0 controls other than tab/newline/carriage return, lone surrogates, U+FFFE/F).
 */
function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/**
 * Escapes a string for use as XML text or as a quoted attribute value. Characters XML cannot
 * represent at all become U+FFFD. Escaping '>' also defuses ']]>' in text.
 */
export function escapeXml(value: string): string {
  let out = '';
  for (const ch of value) {
    const entity = ENTITY[ch];
    if (entity !== undefined) out += entity;
    else out += isXmlChar(ch.codePointAt(0)!) ? ch : '\uFFFD';
  }
  return out;
}

// ---- validation -------------------------------------------------------------------------------

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const TARGET_DEV_RE = /^(vd|sd|hd|xvd)[a-z]{1,3}$/;
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const MACHINE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const CPUSET_RE = /^\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*$/;

function positiveInt(value: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new DomainSpecError(`${what} must be an integer between 1 and ${max}, got ${String(value)}`);
  }
  return value;
}

function absolutePath(value: string, what: string): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.includes('\0')) {
    throw new DomainSpecError(`${what} must be an absolute path`);
  }
  return value;
}

function oneOf<T extends string>(value: T, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value)) throw new DomainSpecError(`${what} must be one of ${allowed.join(', ')}`);
  return value;
}

// ---- tiny element writer -----------------------------------------------------------------------

type Attrs = Readonly<Record<string, string | number | undefined>>;

/** One XML element: every attribute value and text is escaped here and nowhere else. */
class El {
  private readonly children: (El | string)[] = [];

  constructor(
    private readonly tag: string,
    private readonly attrs: Attrs = {},
  ) {}

  add(child: El | null | undefined): this {
    if (child) this.children.push(child);
    return this;
  }

  text(value: string | number): this {
    this.children.push(escapeXml(String(value)));
    return this;
  }

  render(indent = ''): string {
    const attrs = Object.entries(this.attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}='${escapeXml(String(v))}'`)
      .join('');
    if (this.children.length === 0) return `${indent}<${this.tag}${attrs}/>`;
    if (this.children.every((c) => typeof c === 'string')) {
      return `${indent}<${this.tag}${attrs}>${this.children.join('')}</${this.tag}>`;
    }
    const inner = this.children
      .map((c) => (typeof c === 'string' ? `${indent}  ${c}` : c.render(`${indent}  `)))
      .join('\n');
    return `${indent}<${this.tag}${attrs}>\n${inner}\n${indent}</${this.tag}>`;
  }
}

const el = (tag: string, attrs?: Attrs) => new El(tag, attrs);
const textEl = (tag: string, value: string | number, attrs?: Attrs) => new El(tag, attrs).text(value);

// ---- sections ----------------------------------------------------------------------------------

function osElement(spec: DomainSpec): El {
  const os = el('os');
  const machine = spec.type === 'test' ? undefined : spec.machine;
  if (machine !== undefined && !MACHINE_RE.test(machine))
    throw new DomainSpecError('machine is not a valid name');
  os.add(textEl('type', 'hvm', { arch: spec.arch ?? 'x86_64', machine }));
  switch (spec.os.boot) {
    case 'kernel':
      os.add(textEl('kernel', absolutePath(spec.os.kernel, 'os.kernel')));
      if (spec.os.initrd !== undefined) os.add(textEl('initrd', absolutePath(spec.os.initrd, 'os.initrd')));
      if (spec.os.cmdline !== undefined) os.add(textEl('cmdline', spec.os.cmdline));
      break;
    case 'hd':
      os.add(el('boot', { dev: 'hd' }));
      break;
  }
  return os;
}

function cputuneElement(tune: CpuTune | undefined, vcpus: number): El | null {
  if (
    !tune ||
    (tune.shares === undefined &&
      tune.period === undefined &&
      tune.quota === undefined &&
      (tune.vcpupin ?? []).length === 0)
  )
    return null;
  const el_ = el('cputune');
  if (tune.shares !== undefined)
    el_.add(textEl('shares', positiveInt(tune.shares, 'cputune.shares', 262144)));
  if (tune.period !== undefined) {
    if (!Number.isSafeInteger(tune.period) || tune.period < 1000 || tune.period > 1_000_000) {
      throw new DomainSpecError('cputune.period must be an integer between 1000 and 1000000');
    }
    el_.add(textEl('period', tune.period));
  }
  if (tune.quota !== undefined) {
    if (tune.quota !== -1 && (!Number.isSafeInteger(tune.quota) || tune.quota < 1000)) {
      throw new DomainSpecError('cputune.quota must be -1 or an integer of at least 1000');
    }
    el_.add(textEl('quota', tune.quota));
  }
  const pinned = new Set<number>();
  for (const pin of tune.vcpupin ?? []) {
    if (!Number.isSafeInteger(pin.vcpu) || pin.vcpu < 0 || pin.vcpu >= vcpus) {
      throw new DomainSpecError(`cputune.vcpupin: vcpu must be an integer from 0 to ${vcpus - 1}`);
    }
    if (pinned.has(pin.vcpu)) throw new DomainSpecError(`cputune.vcpupin: vcpu ${pin.vcpu} is pinned twice`);
    if (typeof pin.cpuset !== 'string' || !CPUSET_RE.test(pin.cpuset)) {
      throw new DomainSpecError('cputune.vcpupin: cpuset must be a CPU list such as 0-3,^2');
    }
    pinned.add(pin.vcpu);
    el_.add(el('vcpupin', { vcpu: pin.vcpu, cpuset: pin.cpuset }));
  }
  return el_;
}

const IOTUNE_FIELDS: readonly (readonly [keyof DiskIoTune, string])[] = [
  ['totalBytesSec', 'total_bytes_sec'],
  ['readBytesSec', 'read_bytes_sec'],
  ['writeBytesSec', 'write_bytes_sec'],
  ['totalIopsSec', 'total_iops_sec'],
  ['readIopsSec', 'read_iops_sec'],
  ['writeIopsSec', 'write_iops_sec'],
];

function diskElement(disk: DiskSpec, index: number): El {
  const what = `disks[${index}]`;
  const device = oneOf(disk.device ?? 'disk', ['disk', 'cdrom'], `${what}.device`);
  const bus = oneOf(
    disk.bus ?? (device === 'cdrom' ? 'ide' : 'virtio'),
    ['virtio', 'sata', 'scsi', 'ide'],
    `${what}.bus`,
  );
  if (device === 'cdrom' && bus === 'virtio')
    throw new DomainSpecError(`${what}: a cdrom cannot use the virtio bus`);
  if (!TARGET_DEV_RE.test(disk.targetDev))
    throw new DomainSpecError(`${what}.targetDev is not a device name`);
  const format = oneOf(disk.format, ['qcow2', 'raw'], `${what}.format`);
  const cache = disk.cache ?? (device === 'cdrom' ? undefined : 'none');
  if (cache !== undefined)
    oneOf(cache, ['none', 'writeback', 'writethrough', 'directsync', 'unsafe'], `${what}.cache`);

  const out = el('disk', { type: 'file', device });
  out.add(el('driver', { name: 'qemu', type: format, cache }));
  out.add(el('source', { file: absolutePath(disk.path, `${what}.path`) }));
  out.add(el('target', { dev: disk.targetDev, bus }));
  if (device === 'cdrom' || disk.readonly) out.add(el('readonly'));
  if (disk.iotune) {
    const tune = el('iotune');
    let any = false;
    for (const [key, tag] of IOTUNE_FIELDS) {
      const value = disk.iotune[key];
      if (value === undefined) continue;
      tune.add(textEl(tag, positiveInt(value, `${what}.iotune.${key}`)));
      any = true;
    }
    if (
      disk.iotune.totalBytesSec !== undefined &&
      (disk.iotune.readBytesSec ?? disk.iotune.writeBytesSec) !== undefined
    ) {
      throw new DomainSpecError(`${what}.iotune: total and read/write byte limits are exclusive`);
    }
    if (
      disk.iotune.totalIopsSec !== undefined &&
      (disk.iotune.readIopsSec ?? disk.iotune.writeIopsSec) !== undefined
    ) {
      throw new DomainSpecError(`${what}.iotune: total and read/write IOPS limits are exclusive`);
    }
    if (any) out.add(tune);
  }
  return out;
}

function bandwidthLimit(
  tag: 'inbound' | 'outbound',
  limit: BandwidthLimit | undefined,
  what: string,
): El | null {
  if (!limit) return null;
  return el(tag, {
    average: positiveInt(limit.average, `${what}.${tag}.average`),
    peak: limit.peak === undefined ? undefined : positiveInt(limit.peak, `${what}.${tag}.peak`),
    burst: limit.burst === undefined ? undefined : positiveInt(limit.burst, `${what}.${tag}.burst`),
  });
}

function interfaceElement(nic: InterfaceSpec, index: number): El {
  const what = `interfaces[${index}]`;
  if (typeof nic.network !== 'string' || nic.network.length === 0) {
    throw new DomainSpecError(`${what}.network is required`);
  }
  if (nic.mac !== undefined && !MAC_RE.test(nic.mac))
    throw new DomainSpecError(`${what}.mac is not a MAC address`);
  const out = el('interface', { type: 'network' });
  if (nic.mac !== undefined) out.add(el('mac', { address: nic.mac.toLowerCase() }));
  out.add(el('source', { network: nic.network }));
  out.add(
    el('model', { type: oneOf(nic.model ?? 'virtio', ['virtio', 'e1000', 'rtl8139'], `${what}.model`) }),
  );
  const inbound = bandwidthLimit('inbound', nic.bandwidth?.inbound, what);
  const outbound = bandwidthLimit('outbound', nic.bandwidth?.outbound, what);
  if (inbound || outbound) out.add(el('bandwidth').add(inbound).add(outbound));
  return out;
}

function metadataElement(meta: StratoMetadata | undefined): El | null {
  if (!meta) return null;
  const instance = el('strato:instance', { 'xmlns:strato': STRATO_XMLNS });
  instance.add(textEl('strato:id', meta.instanceId));
  instance.add(textEl('strato:project', meta.projectId));
  instance.add(textEl('strato:flavor', meta.flavorName));
  if (meta.displayName !== undefined) instance.add(textEl('strato:displayName', meta.displayName));
  return el('metadata').add(instance);
}

/** libvirt rejects titles with newlines; keep one line. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
}

/** Builds the domain XML for `spec`. Throws DomainSpecError on invalid input. */
export function buildDomainXml(spec: DomainSpec): string {
  if (typeof spec.name !== 'string' || !NAME_RE.test(spec.name)) {
    throw new DomainSpecError(
      "name must be 1-200 letters, digits, '.', '_' or '-' and start with a letter or digit; put free text in metadata.displayName",
    );
  }
  if (!UUID_RE.test(spec.uuid)) throw new DomainSpecError('uuid must be a UUID string');
  const type = oneOf(spec.type, ['kvm', 'qemu', 'test'], 'type');
  const memoryMiB = positiveInt(spec.memoryMiB, 'memoryMiB', 16 * 1024 * 1024);
  const vcpus = positiveInt(spec.vcpus, 'vcpus', 4096);
  const title = spec.title ?? spec.metadata?.displayName;

  const domain = el('domain', { type });
  domain.add(textEl('name', spec.name));
  domain.add(textEl('uuid', spec.uuid.toLowerCase()));
  if (title !== undefined) domain.add(textEl('title', oneLine(title)));
  domain.add(metadataElement(spec.metadata));
  domain.add(textEl('memory', memoryMiB, { unit: 'MiB' }));
  domain.add(textEl('currentMemory', memoryMiB, { unit: 'MiB' }));
  domain.add(textEl('vcpu', vcpus, { placement: 'static' }));
  domain.add(cputuneElement(spec.cputune, vcpus));
  domain.add(osElement(spec));
  // ACPI lets virDomainShutdown/Reboot ask the guest politely.
  if (type !== 'test') domain.add(el('features').add(el('acpi')).add(el('apic')));
  domain.add(textEl('on_poweroff', 'destroy'));
  domain.add(textEl('on_reboot', 'restart'));
  domain.add(textEl('on_crash', 'destroy'));

  const devices = el('devices');
  (spec.disks ?? []).forEach((disk, i) => devices.add(diskElement(disk, i)));
  (spec.interfaces ?? []).forEach((nic, i) => devices.add(interfaceElement(nic, i)));
  if (spec.serialLogPath !== undefined) {
    devices.add(
      el('serial', { type: 'file' })
        .add(el('source', { path: absolutePath(spec.serialLogPath, 'serialLogPath') }))
        .add(el('target', { port: 0 })),
    );
  }
  if (type !== 'test') devices.add(el('memballoon', { model: 'none' }));
  domain.add(devices);
  return `${domain.render()}\n`;
}
