/**
 * The libvirt driver: guests as libvirt domains through @strato/libvirt (which keeps every
 * blocking call off the event loop). Domains are named 'instance-<uuid>' with the instance
 * UUID as their libvirt UUID; the user's display name goes only into the escaped <title>
 * and Strato metadata. Domains without that name shape are not Strato's and are ignored.
 *
 * Real hypervisors (qemu:///system): a guest boots from a qcow2 overlay on the image, which
 * the host's image cache downloads once and shares; it gets an ephemeral disk when the flavor
 * has one, a config drive, a virtio NIC on a libvirt NAT network (created and started when
 * missing; without it guests boot with no NIC, logged once), its serial console in a file,
 * and the flavor's extra_specs as resource controls (resource-controls.ts). The domain type is
 * chosen like Nova's virt_type (virt-type.ts). See docs/kvm.md.
 *
 * Console log: on a real hypervisor the guest's serial port is written to
 * <instancesDir>/<uuid>/console.log and consoleOutput returns it. libvirt's test:///default
 * runs no guest at all, so there is no guest output; instead the driver itself appends one
 * line per lifecycle action to that file, each marked as written by the compute agent
 * (capabilities.consoleLog is false to say so). On test:///default no image is fetched and no
 * disk is made.
 *
 * test:///default keeps ONE process-wide state: every connection in a process sees the same
 * domains (a test:///<file.xml> URI instead gives each connection its own). So that several
 * agents in one process (the all-in-one, tests) still behave as separate hosts, a driver on
 * test:///default only sees and touches the guests it spawned itself.
 *
 * libvirtd restarting under the agent: a call that fails on a dead connection reopens it (a
 * bounded number of tries), restarts the lifecycle watch and reports every guest to the watch
 * callback so power states are compared again; the call is then retried once.
 */
import { access, appendFile, chmod, mkdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { AppError } from '@strato/errors';
import { POWER_STATE, type PowerState } from '@strato/contracts';
import {
  LibvirtConnection,
  LibvirtError,
  buildDomainXml,
  buildNatNetworkXml,
  isLibvirtError,
  watchLifecycle,
  type DomainInfo,
  type DomainSpec,
  type DomainState,
  type LifecycleWatch,
  type VcpuPin,
} from '@strato/libvirt';
import type { Logger } from '@strato/log';
import type { ImageCache } from '../images/image-cache';
import type { ImageSource } from '../images/image-client';
import { QemuImg } from '../images/qemu-img';
import type { ConfigDriveInput } from './config-drive';
import { GuestDisks, bootableFormat } from './guest-disks';
import { guestDomainSpec, guestPaths, type ConfigDriveBus, type GuestPaths } from './guest-layout';
import {
  tailLines,
  type DriverCapabilities,
  type GuestInfo,
  type GuestSpec,
  type HostInventory,
  type HypervisorDriver,
  type RebootType,
  type SnapshotFile,
} from './hypervisor-driver';
import { instanceDirIds } from './instance-dirs';
import { pinVcpus, pinnedCpus, resourceControls } from './resource-controls';
import {
  chooseVirtType,
  probeHostVirt,
  type HostVirtFacts,
  type VirtType,
  type VirtTypeSetting,
} from './virt-type';

const NAME_PREFIX = 'instance-';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * libvirt's test driver answers every call at once, in the library: one call thread is enough
 * (each thread is a V8 isolate, ~10 MiB). Real hypervisors get the default pool, since their
 * calls block for seconds.
 */
const openOptions = (uri: string) => (uri.startsWith('test:') ? { threads: 1 } : {});

export const domainName = (instanceId: string): string => `${NAME_PREFIX}${instanceId}`;

/** The instance id of a Strato domain, or null for anything else on the hypervisor. */
export function instanceIdOf(domain: { name: string; uuid: string }): string | null {
  if (!domain.name.startsWith(NAME_PREFIX)) return null;
  const id = domain.name.slice(NAME_PREFIX.length);
  return UUID_RE.test(id) && id === domain.uuid.toLowerCase() ? id : null;
}

export function powerStateOf(state: DomainState): PowerState {
  switch (state) {
    case 'running':
    case 'blocked':
      return POWER_STATE.RUNNING;
    case 'paused':
      return POWER_STATE.PAUSED;
    case 'shutdown':
    case 'shutoff':
      return POWER_STATE.SHUTDOWN;
    case 'crashed':
      return POWER_STATE.CRASHED;
    case 'pmsuspended':
      return POWER_STATE.SUSPENDED;
    case 'nostate':
    case 'unknown':
      return POWER_STATE.NOSTATE;
  }
}

function toAppError(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err;
  if (typeof err === 'object' && err !== null && (err as { kind?: unknown }).kind === 'InvalidDomainSpec') {
    return new AppError('Invalid', `${what}: ${(err as Error).message}`);
  }
  if (isLibvirtError(err)) {
    const message = `${what}: ${err.message}`;
    switch (err.kind) {
      case 'NoDomain':
      case 'NoNetwork':
        return new AppError('NotFound', message);
      case 'DomainExists':
        return new AppError('Conflict', message);
      case 'InvalidXml':
      case 'InvalidArgument':
      case 'NotSupported':
        return new AppError('Invalid', message);
      case 'ConnectionFailed':
      case 'Timeout':
        return new AppError('Unavailable', message);
      case 'OperationFailed':
        return /already exists/i.test(err.message)
          ? new AppError('Conflict', message)
          : new AppError('Internal', message);
      case 'OperationInvalid':
        return new AppError('Conflict', message);
      case 'AccessDenied':
      case 'Internal':
      case 'NativeFailure':
      case 'Other':
        return new AppError('Internal', message);
    }
  }
  return new AppError('Internal', `${what}: ${err instanceof Error ? err.message : String(err)}`);
}

function versionNumber(text: string): number {
  const [a = 0, b = 0, c = 0] = text.split('.').map((n) => Number.parseInt(n, 10) || 0);
  return a * 1_000_000 + b * 1000 + c;
}

/** libvirt answers that say something about a guest, not about the connection. */
const ANSWER_KINDS = new Set([
  'NoDomain',
  'NoNetwork',
  'DomainExists',
  'OperationInvalid',
  'InvalidXml',
  'InvalidArgument',
  'NotSupported',
  'AccessDenied',
]);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a real (qemu/kvm) hypervisor needs beyond libvirt: images, disks, network, config drive. */
export interface RealGuestOptions {
  /** The host's image cache (the driver calls init() on open). */
  images: ImageCache;
  /** Records of kernel/ramdisk images named by kernel_id/ramdisk_id. */
  imageSource: ImageSource;
  qemuImg?: QemuImg;
  /** Nova's virt_type; default 'auto'. */
  virtType?: VirtTypeSetting;
  /** The libvirt network for guest NICs (default 'default'); null: guests get no NIC. */
  network?: string | null;
  /** How the config drive is attached: cdrom on ide (default) or sata, or a virtio disk. */
  configDriveBus?: ConfigDriveBus;
  /** Written to the config drive's meta_data.json. */
  availabilityZone?: string;
  /** SOFT reboot: how long the guest may take to shut down before a hard reboot (ms). */
  softRebootGraceMs?: number;
  /** What the host offers for virt_type 'auto' (tests replace it). */
  hostFacts?: () => Promise<HostVirtFacts>;
}

export interface LibvirtDriverOptions {
  uri: string;
  /** Absolute directory for per-instance files (disks, console logs). */
  instancesDir: string;
  /** @deprecated use guests.virtType: domain type on a real hypervisor. */
  domainType?: 'kvm' | 'qemu';
  /** Required for anything but libvirt's test:/// driver. */
  guests?: RealGuestOptions;
  /** Override the disk inventory (GB); default: the size of the instances filesystem. */
  diskGb?: number;
  /** How long powerOff waits for the guest's ACPI shutdown before a hard stop (ms). */
  shutdownGraceMs?: number;
  /** While waiting for a graceful shutdown, the ACPI request is repeated this often (ms). */
  acpiRetryMs?: number;
  /** Reopening a dead connection: tries and the pause before the first retry (doubling, max 5 s). */
  reconnect?: { attempts?: number; delayMs?: number };
  log: Logger;
}

interface RealGuests {
  options: RealGuestOptions;
  disks: GuestDisks;
  virtType: VirtType;
  network: string | null;
}

export class LibvirtDriver implements HypervisorDriver {
  readonly name = 'libvirt';
  readonly capabilities: Readonly<DriverCapabilities>;
  private readonly testHypervisor: boolean;
  private watch: LifecycleWatch | null = null;
  private watchHandler: ((instanceId: string) => void) | null = null;
  /** test:///default only: the guests this driver made (its "host" within the shared state). */
  private readonly owned: Set<string> | null;
  private reconnecting: Promise<void> | null = null;
  private closing = false;
  private networkWarned = false;
  private networkCheck: Promise<string | null> | null = null;

  private constructor(
    private conn: LibvirtConnection,
    private readonly options: LibvirtDriverOptions,
    private readonly real: RealGuests | null,
  ) {
    this.testHypervisor = options.uri.startsWith('test:');
    this.owned = options.uri === 'test:///default' ? new Set() : null;
    this.capabilities = {
      liveMigration: false,
      consoleLog: !this.testHypervisor,
      // test:///default connections are private: events from ours never reach a watcher.
      lifecycleEvents: !this.testHypervisor,
    };
  }

  static async open(options: LibvirtDriverOptions): Promise<LibvirtDriver> {
    if (!isAbsolute(options.instancesDir)) throw new Error('instancesDir must be an absolute path');
    const testHypervisor = options.uri.startsWith('test:');
    let real: RealGuests | null = null;
    if (!testHypervisor) {
      const guests = options.guests;
      if (!guests) throw new Error(`${options.uri} runs real guests: the driver needs an image cache`);
      const setting = guests.virtType ?? options.domainType ?? 'auto';
      const choice = chooseVirtType(setting, await (guests.hostFacts ?? (() => probeHostVirt()))());
      options.log.info(
        { virtType: choice.type, setting, reason: choice.reason },
        `guests run as ${choice.type} domains`,
      );
      real = {
        options: guests,
        disks: new GuestDisks({
          images: guests.images,
          imageSource: guests.imageSource,
          qemuImg: guests.qemuImg ?? new QemuImg(),
        }),
        virtType: choice.type,
        network: guests.network === undefined ? 'default' : guests.network,
      };
    }
    let conn: LibvirtConnection;
    try {
      conn = await LibvirtConnection.open(options.uri, openOptions(options.uri));
    } catch (err) {
      throw toAppError(err, `open ${options.uri}`);
    }
    const driver = new LibvirtDriver(conn, options, real);
    if (real) {
      try {
        await driver.startUp(real);
      } catch (err) {
        await conn.close();
        throw toAppError(err, `start the driver on ${options.uri}`);
      }
    }
    return driver;
  }

  /**
   * Real hypervisors: the instances directory exists and QEMU can reach it; directories of
   * guests libvirt no longer has (a crash mid-spawn or mid-delete) are removed; the image cache
   * drops temporary files and evicts; the NAT network is made ready.
   */
  private async startUp(real: RealGuests): Promise<void> {
    const dir = this.options.instancesDir;
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chmod(dir, 0o755);
    const blocked = await untraversableAncestor(dir);
    if (blocked) {
      this.options.log.warn(
        { dir: blocked },
        'QEMU runs as another user and cannot reach the instances directory through this directory (it needs o+x); guests will fail to start',
      );
    }
    // Files of a guest libvirt does not have: a spawn that crashed before the guest ever ran (no
    // console log yet) left them, and they go; a guest that has run may hold a tenant's data (its
    // definition lost, or this agent pointed at another libvirt), so its files are kept and named.
    const domains = new Set((await this.conn.listDomains()).flatMap((d) => instanceIdOf(d) ?? []));
    const orphans = (await instanceDirIds(dir)).filter((id) => !domains.has(id));
    const kept: string[] = [];
    for (const id of orphans) {
      const ran = await access(join(dir, id, 'console.log')).then(
        () => true,
        () => false,
      );
      if (ran) kept.push(id);
      else await rm(join(dir, id), { recursive: true, force: true });
    }
    if (orphans.length > kept.length) {
      this.options.log.info(
        { removed: orphans.filter((id) => !kept.includes(id)) },
        'removed the files of spawns that never ran',
      );
    }
    if (kept.length > 0) {
      this.options.log.warn(
        { kept },
        'libvirt has no guest for these instance directories; their disks are kept',
      );
    }
    await real.options.images.init();
    await this.ensureNetwork();
  }

  // ---- the connection ---------------------------------------------------------------------

  /**
   * Runs a libvirt call. If it failed because the connection died (libvirtd restarted), the
   * connection is reopened and the call retried once (`retry: false` for calls that must not
   * run twice: the error is then thrown after reconnecting).
   */
  private async libvirt<T>(fn: (conn: LibvirtConnection) => Promise<T>, retry = true): Promise<T> {
    const conn = this.conn;
    try {
      return await fn(conn);
    } catch (err) {
      if (this.closing || !isLibvirtError(err) || ANSWER_KINDS.has(err.kind)) throw err;
      if (await conn.isAlive().catch(() => false)) throw err;
      await this.reconnect(conn);
      if (!retry) throw err;
      return fn(this.conn);
    }
  }

  private reconnect(stale: LibvirtConnection): Promise<void> {
    if (this.conn !== stale) return Promise.resolve();
    this.reconnecting ??= this.reopen(stale).finally(() => {
      this.reconnecting = null;
    });
    return this.reconnecting;
  }

  private async reopen(stale: LibvirtConnection): Promise<void> {
    const attempts = this.options.reconnect?.attempts ?? 10;
    let delay = this.options.reconnect?.delayMs ?? 500;
    this.options.log.warn({ uri: this.options.uri }, 'libvirt connection lost; reconnecting');
    for (let attempt = 1; ; attempt++) {
      try {
        this.conn = await LibvirtConnection.open(this.options.uri, openOptions(this.options.uri));
        break;
      } catch (err) {
        if (attempt >= attempts || this.closing) {
          throw new LibvirtError(
            {
              code: -1,
              domain: 0,
              message: `libvirt unreachable after ${attempt} tries: ${(err as Error).message}`,
            },
            { kind: 'ConnectionFailed' },
          );
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
    void stale.close().catch(() => undefined);
    this.options.log.info({ uri: this.options.uri }, 'libvirt connection reopened');
    const handler = this.watchHandler;
    if (handler) {
      await this.watch?.stop().catch(() => undefined);
      this.watch = null;
      this.watchHandler = null;
      await this.watchPowerStates(handler);
      // Events were lost while libvirtd was away: have every guest's power state compared.
      for (const guest of await this.list().catch(() => [])) handler(guest.instanceId);
    }
  }

  // ---- host ---------------------------------------------------------------------------------

  async inventory(): Promise<HostInventory> {
    try {
      const [node, version] = await this.libvirt((c) => Promise.all([c.nodeInfo(), c.version()]));
      let diskGb = this.options.diskGb;
      if (diskGb === undefined) {
        await mkdir(this.options.instancesDir, { recursive: true });
        const fs = await statfs(this.options.instancesDir);
        diskGb = Math.floor((fs.blocks * fs.bsize) / 1024 ** 3);
      }
      return {
        vcpus: node.cpus,
        memoryMb: Math.floor(node.memoryKiB / 1024),
        diskGb,
        hypervisorType: version.driver,
        hypervisorVersion: versionNumber(version.hypervisor),
        architecture: node.model,
        cpuInfo: JSON.stringify({
          arch: node.model,
          model: node.model,
          topology: { sockets: node.sockets, cores: node.cores, threads: node.threads },
          mhz: node.mhz,
        }),
      };
    } catch (err) {
      throw toAppError(err, 'read host inventory');
    }
  }

  private mine(instanceId: string): boolean {
    return this.owned === null || this.owned.has(instanceId);
  }

  private notFound(instanceId: string): AppError {
    return new AppError('NotFound', `Instance ${instanceId} could not be found.`);
  }

  private dir(instanceId: string): string {
    if (!UUID_RE.test(instanceId)) throw new AppError('Invalid', 'instance id must be a lower-case UUID');
    return join(this.options.instancesDir, instanceId);
  }

  private paths(instanceId: string): GuestPaths {
    this.dir(instanceId);
    return guestPaths(this.options.instancesDir, instanceId);
  }

  private consolePath(instanceId: string): string {
    return join(this.dir(instanceId), 'console.log');
  }

  /**
   * test:///default only: a line marking what the agent did, since no guest writes there.
   * `dirMade`: the instance's directory was just made (spawn), so it is not made again.
   */
  private async note(instanceId: string, event: string, dirMade = false): Promise<void> {
    if (!this.testHypervisor) return;
    if (!dirMade) await mkdir(this.dir(instanceId), { recursive: true });
    await appendFile(
      this.consolePath(instanceId),
      `[strato compute-agent ${new Date().toISOString()}] ${event} (libvirt test driver: no guest OS runs, so there is no guest console output)\n`,
    );
  }

  /** libvirt's test driver: a domain with no files behind it. */
  private testDomainSpec(spec: GuestSpec): DomainSpec {
    const dir = this.dir(spec.instanceId);
    return {
      name: domainName(spec.instanceId),
      uuid: spec.instanceId,
      type: 'test',
      memoryMiB: spec.memoryMb,
      vcpus: spec.vcpus,
      os: { boot: 'hd' },
      disks: [{ path: join(dir, 'disk'), format: 'qcow2', targetDev: 'vda' }],
      metadata: {
        instanceId: spec.instanceId,
        projectId: spec.projectId,
        flavorName: spec.flavorName,
        displayName: spec.displayName,
      },
    };
  }

  // ---- network ------------------------------------------------------------------------------

  /**
   * The network guests' NICs join: defined (NAT, DHCP) when missing, started when inactive.
   * null when there is none to be had (said once in the log; guests then boot without a NIC).
   */
  private ensureNetwork(): Promise<string | null> {
    // Concurrent spawns share one check: two starting the same network would clash.
    this.networkCheck ??= this.checkNetwork().finally(() => {
      this.networkCheck = null;
    });
    return this.networkCheck;
  }

  private async checkNetwork(): Promise<string | null> {
    const name = this.real?.network ?? null;
    if (name === null) return null;
    try {
      let info = await this.libvirt((c) => c.lookupNetwork(name)).catch((err: unknown) => {
        if (isLibvirtError(err, 'NoNetwork')) return null;
        throw err;
      });
      if (!info) {
        await this.libvirt((c) =>
          c.defineNetwork(
            buildNatNetworkXml({
              name,
              address: '192.168.122.1',
              prefix: 24,
              dhcpStart: '192.168.122.2',
              dhcpEnd: '192.168.122.254',
            }),
          ),
        );
        await this.libvirt((c) => c.setNetworkAutostart(name, true)).catch(() => undefined);
        this.options.log.info({ network: name }, 'defined a NAT network for guests');
        info = await this.libvirt((c) => c.lookupNetwork(name));
      }
      if (!info.active) {
        await this.libvirt((c) => c.startNetwork(name));
        this.options.log.info({ network: name }, 'started the network for guests');
      }
      this.networkWarned = false;
      return name;
    } catch (err) {
      if (!this.networkWarned) {
        this.networkWarned = true;
        this.options.log.warn(
          { network: name, err: err instanceof Error ? err.message : String(err) },
          'the guest network is unavailable; guests boot without a NIC',
        );
      }
      return null;
    }
  }

  // ---- spawn / destroy ----------------------------------------------------------------------

  private async exists(instanceId: string): Promise<boolean> {
    return this.libvirt((c) => c.lookup({ uuid: instanceId })).then(
      () => true,
      (err: unknown) =>
        isLibvirtError(err, 'NoDomain') ? false : Promise.reject(toAppError(err, 'look up guest')),
    );
  }

  async spawn(spec: GuestSpec): Promise<GuestInfo> {
    let xml: string | null = null;
    try {
      if (this.real) {
        // Refused before anything is made: an image the host cannot boot, bad extra_specs.
        bootableFormat(spec.image);
        resourceControls(spec.extraSpecs);
      } else {
        xml = buildDomainXml(this.testDomainSpec(spec));
      }
    } catch (err) {
      throw toAppError(err, `spawn ${spec.instanceId}`);
    }
    if (await this.exists(spec.instanceId)) {
      throw new AppError('Conflict', `a guest for instance ${spec.instanceId} already exists`);
    }
    try {
      if (this.real) {
        xml = await this.prepareRealGuest(spec, this.real);
      } else {
        await mkdir(this.dir(spec.instanceId), { recursive: true });
      }
      const definition = xml!;
      const started = await this.libvirt((c) => c.defineAndStart(definition), false);
      this.owned?.add(spec.instanceId);
      await this.note(spec.instanceId, `guest ${domainName(spec.instanceId)} defined and started`, true);
      return this.info(spec.instanceId, started);
    } catch (err) {
      const failure = explainSpawnFailure(spec, toAppError(err, `spawn ${spec.instanceId}`));
      // Only remove what this call made: a name clash (Conflict) belongs to someone else.
      if (failure.kind !== 'Conflict') await this.destroy(spec.instanceId).catch(() => undefined);
      else await rm(this.dir(spec.instanceId), { recursive: true, force: true }).catch(() => undefined);
      throw failure;
    }
  }

  /** Makes the guest's files and returns its domain XML. */
  private async prepareRealGuest(spec: GuestSpec, real: RealGuests): Promise<string> {
    const paths = this.paths(spec.instanceId);
    await rm(paths.dir, { recursive: true, force: true });
    await mkdir(paths.dir, { recursive: true, mode: 0o755 });
    await chmod(paths.dir, 0o755);
    const configDrive: ConfigDriveInput = {
      instanceId: spec.instanceId,
      displayName: spec.displayName,
      projectId: spec.projectId,
      availabilityZone: real.options.availabilityZone ?? 'nova',
      metadata: spec.metadata,
      userData: spec.userData,
      keyName: spec.keyName,
      keyData: spec.keyData,
    };
    const controls = resourceControls(spec.extraSpecs);
    const [prepared, network, vcpuPins] = await Promise.all([
      real.disks.prepare(spec, paths, configDrive),
      this.ensureNetwork(),
      controls.dedicatedCpus ? this.choosePins(spec.vcpus) : Promise.resolve([]),
    ]);
    return buildDomainXml(
      guestDomainSpec(spec, {
        virtType: real.virtType,
        paths,
        hasEphemeral: prepared.hasEphemeral,
        configDriveBus: real.options.configDriveBus ?? 'ide',
        kernel: prepared.kernel,
        network,
        controls,
        vcpuPins,
      }),
    );
  }

  /** hw:cpu_policy=dedicated: host CPUs other Strato guests here have pinned least. */
  private async choosePins(vcpus: number): Promise<VcpuPin[]> {
    const [node, domains] = await Promise.all([
      this.libvirt((c) => c.nodeInfo()),
      this.libvirt((c) => c.listDomains()),
    ]);
    const xmls = await Promise.all(
      domains
        .filter((d) => instanceIdOf(d) !== null && d.state !== 'shutoff')
        .map((d) => this.libvirt((c) => c.getXml({ uuid: d.uuid })).catch(() => '')),
    );
    return pinVcpus(vcpus, node.cpus, pinnedCpus(xmls));
  }

  async destroy(instanceId: string): Promise<void> {
    if (!this.mine(instanceId)) return; // another agent's guest in the shared test state
    const ref = { uuid: instanceId };
    const ignore =
      (...kinds: string[]) =>
      (err: unknown) => {
        if (isLibvirtError(err) && kinds.includes(err.kind)) return;
        throw toAppError(err, `destroy ${instanceId}`);
      };
    await this.libvirt((c) => c.destroy(ref)).catch(ignore('NoDomain', 'OperationInvalid'));
    await this.libvirt((c) => c.undefine(ref)).catch(ignore('NoDomain'));
    await rm(this.dir(instanceId), { recursive: true, force: true });
    this.owned?.delete(instanceId);
  }

  // ---- power --------------------------------------------------------------------------------

  private async state(instanceId: string): Promise<DomainState> {
    if (!this.mine(instanceId)) throw this.notFound(instanceId);
    try {
      return (await this.libvirt((c) => c.getState({ uuid: instanceId }))).state;
    } catch (err) {
      throw toAppError(err, `instance ${instanceId}`);
    }
  }

  private async run<T>(what: string, fn: (conn: LibvirtConnection) => Promise<T>): Promise<T> {
    try {
      return await this.libvirt(fn);
    } catch (err) {
      throw toAppError(err, what);
    }
  }

  async powerOn(instanceId: string): Promise<void> {
    if (powerStateOf(await this.state(instanceId)) === POWER_STATE.RUNNING) return;
    await this.run(`start ${instanceId}`, (c) => c.start({ uuid: instanceId }));
    await this.note(instanceId, 'guest started');
  }

  /**
   * Asks the guest to power off (ACPI) and waits up to graceMs; true when it is off. The
   * request is repeated every acpiRetryMs, as a guest that is still booting (or busy) may not
   * be listening for the power button yet and a lost press is not queued anywhere.
   */
  private async shutDownGracefully(instanceId: string, graceMs: number): Promise<boolean> {
    const ref = { uuid: instanceId };
    const ask = () =>
      this.run(`shut down ${instanceId}`, (c) => c.shutdown(ref)).catch((err: AppError) => {
        // e.g. no ACPI, or it went off meanwhile: the caller falls back to a hard stop.
        if (err.kind !== 'Internal' && err.kind !== 'Conflict') throw err;
      });
    await ask();
    const retryMs = this.options.acpiRetryMs ?? 10_000;
    const deadline = Date.now() + graceMs;
    let nextAsk = Date.now() + retryMs;
    while ((await this.state(instanceId)) !== 'shutoff') {
      if (Date.now() >= deadline) return false;
      if (Date.now() >= nextAsk) {
        await ask();
        nextAsk = Date.now() + retryMs;
      }
      await sleep(200);
    }
    return true;
  }

  async powerOff(instanceId: string): Promise<void> {
    if ((await this.state(instanceId)) === 'shutoff') return;
    const off = await this.shutDownGracefully(instanceId, this.options.shutdownGraceMs ?? 60_000);
    if (!off) await this.run(`stop ${instanceId}`, (c) => c.destroy({ uuid: instanceId }));
    await this.note(instanceId, 'guest stopped');
  }

  /**
   * SOFT on a real guest, as Nova does it: ACPI shutdown, and once the guest is off, start it
   * again; a guest that does not shut down within the grace gets a HARD reboot instead.
   * libvirt's test driver reboots in place. HARD: stop at once and start.
   */
  async reboot(instanceId: string, type: RebootType): Promise<void> {
    const ref = { uuid: instanceId };
    const running = powerStateOf(await this.state(instanceId)) === POWER_STATE.RUNNING;
    if (running && type === 'SOFT' && this.testHypervisor) {
      await this.run(`reboot ${instanceId}`, (c) => c.reboot(ref));
    } else if (running && type === 'SOFT') {
      const grace = this.real?.options.softRebootGraceMs ?? 120_000;
      const off = await this.shutDownGracefully(instanceId, grace);
      if (!off) {
        this.options.log.info(
          { instance: instanceId, graceMs: grace },
          'guest ignored the soft reboot; rebooting it hard',
        );
        await this.run(`stop ${instanceId}`, (c) => c.destroy(ref));
      }
      await this.run(`start ${instanceId}`, (c) => c.start(ref));
    } else {
      if (running) await this.run(`stop ${instanceId}`, (c) => c.destroy(ref));
      await this.run(`start ${instanceId}`, (c) => c.start(ref));
    }
    await this.note(instanceId, `guest rebooted (${type})`);
  }

  // ---- snapshot -----------------------------------------------------------------------------

  /**
   * Real guests: the root disk, flattened with qemu-img convert; a running guest is paused
   * (QEMU flushes its caches) for the copy and resumed after. libvirt's test driver has no
   * disk: a small raw placeholder file says so.
   */
  async snapshot(instanceId: string, destFile: string): Promise<SnapshotFile> {
    const state = await this.state(instanceId);
    if (!this.real) {
      const content = Buffer.from(
        `strato: libvirt test driver guest ${instanceId} has no disk; this placeholder stands for its snapshot\n`,
      );
      await writeFile(destFile, content);
      await this.note(instanceId, 'guest snapshotted (placeholder file)');
      return { format: 'raw', size: content.length };
    }
    const ref = { uuid: instanceId };
    const pause = state === 'running' || state === 'blocked';
    if (pause) await this.run(`pause ${instanceId}`, (c) => c.suspend(ref));
    try {
      return await this.real.disks.snapshot(this.paths(instanceId), destFile, state !== 'shutoff');
    } catch (err) {
      await rm(destFile, { force: true }).catch(() => undefined);
      throw toAppError(err, `snapshot ${instanceId}`);
    } finally {
      if (pause) await this.run(`resume ${instanceId}`, (c) => c.resume(ref));
    }
  }

  // ---- queries ------------------------------------------------------------------------------

  private info(instanceId: string, d: DomainInfo): GuestInfo {
    return {
      instanceId,
      powerState: powerStateOf(d.state),
      vcpus: d.vcpus,
      memoryMb: Math.floor(d.maxMemKiB / 1024),
      cpuTimeNs: d.cpuTimeNs,
    };
  }

  async getInfo(instanceId: string): Promise<GuestInfo> {
    return this.run(`instance ${instanceId}`, async (c) => {
      if (!this.mine(instanceId)) throw this.notFound(instanceId);
      const domain = await c.lookupRecord({ uuid: instanceId });
      if (instanceIdOf(domain) !== instanceId) throw this.notFound(instanceId);
      return this.info(instanceId, domain);
    });
  }

  async list(): Promise<GuestInfo[]> {
    const domains = await this.run('list guests', (c) => c.listDomains());
    return domains.flatMap((d) => {
      const id = instanceIdOf(d);
      return id && this.mine(id) ? [this.info(id, d)] : [];
    });
  }

  async consoleOutput(instanceId: string, lines: number | null): Promise<string> {
    await this.getInfo(instanceId);
    const text = await readFile(this.consolePath(instanceId), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw toAppError(err, `read console of ${instanceId}`);
    });
    return tailLines(text, lines);
  }

  async watchPowerStates(onChange: (instanceId: string) => void): Promise<boolean> {
    if (!this.capabilities.lifecycleEvents || this.watch) return false;
    try {
      this.watch = await watchLifecycle(this.options.uri, (event) => {
        const id = instanceIdOf(event);
        if (id) onChange(id);
      });
      this.watchHandler = onChange;
      return true;
    } catch (err) {
      // libvirt allows one event loop per process (e.g. several agents in one test process).
      this.options.log.info(
        { err: (err as Error).message },
        'lifecycle events unavailable; polling power states',
      );
      return false;
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.reconnecting?.catch(() => undefined);
    await this.watch?.stop();
    this.watch = null;
    this.watchHandler = null;
    await this.conn.close();
  }
}

/**
 * libvirt shapes a NIC's traffic with tc (htb and sfq qdiscs) when the guest starts; a host
 * kernel without them fails the start with a tc error that names neither the flavor nor the
 * extra specs. Say what it means.
 */
function explainSpawnFailure(spec: GuestSpec, failure: AppError): AppError {
  const shaping = Object.keys(spec.extraSpecs).some((k) => k.startsWith('quota:vif_'));
  if (shaping && /\btc\b.*\b(qdisc|class|filter)\b/.test(failure.message)) {
    return new AppError(
      'Internal',
      `This host cannot apply the flavor's network bandwidth limits (quota:vif_*): its kernel lacks the traffic control libvirt uses (${failure.message})`,
    );
  }
  return failure;
}

/** The first directory from / down to `dir` that other users cannot pass through (no o+x). */
async function untraversableAncestor(dir: string): Promise<string | null> {
  const chain: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    chain.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of chain) {
    const st = await stat(d).catch(() => null);
    if (st && (st.mode & 0o001) === 0) return d;
  }
  return null;
}
