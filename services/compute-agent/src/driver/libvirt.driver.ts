/**
 * The libvirt driver: guests as libvirt domains through @strato/libvirt (which keeps every
 * blocking call off the event loop). Domains are named 'instance-<uuid>' with the instance
 * UUID as their libvirt UUID; the user's display name goes only into the escaped <title>
 * and Strato metadata. Domains without that name shape are not Strato's and are ignored.
 *
 * Console log: on a real hypervisor (qemu/kvm) the guest's serial port is written to
 * <instancesDir>/<uuid>/console.log and consoleOutput returns it. libvirt's test:///default
 * runs no guest at all, so there is no guest output; instead the driver itself appends one
 * line per lifecycle action to that file, each marked as written by the compute agent
 * (capabilities.consoleLog is false to say so).
 *
 * test:///default keeps ONE process-wide state: every connection in a process sees the same
 * domains (a test:///<file.xml> URI instead gives each connection its own). So that several
 * agents in one process (the all-in-one, tests) still behave as separate hosts, a driver on
 * test:///default only sees and touches the guests it spawned itself.
 */
import { appendFile, mkdir, readFile, rm, statfs } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { AppError } from '@strato/errors';
import { POWER_STATE, type PowerState } from '@strato/contracts';
import {
  LibvirtConnection,
  buildDomainXml,
  isLibvirtError,
  watchLifecycle,
  type DomainInfo,
  type DomainSpec,
  type DomainState,
  type LifecycleWatch,
} from '@strato/libvirt';
import type { Logger } from '@strato/log';
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

const NAME_PREFIX = 'instance-';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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

export interface LibvirtDriverOptions {
  uri: string;
  /** Absolute directory for per-instance files (disks, console logs). */
  instancesDir: string;
  /** Domain type on a real hypervisor: 'kvm' with hardware virtualisation, else 'qemu'. */
  domainType?: 'kvm' | 'qemu';
  /** Override the disk inventory (GB); default: the size of the instances filesystem. */
  diskGb?: number;
  /** How long powerOff waits for the guest's ACPI shutdown before a hard stop (ms). */
  shutdownGraceMs?: number;
  log: Logger;
}

export class LibvirtDriver implements HypervisorDriver {
  readonly name = 'libvirt';
  readonly capabilities: Readonly<DriverCapabilities>;
  private readonly testHypervisor: boolean;
  private watch: LifecycleWatch | null = null;
  /** test:///default only: the guests this driver made (its "host" within the shared state). */
  private readonly owned: Set<string> | null;

  private constructor(
    private readonly conn: LibvirtConnection,
    private readonly options: LibvirtDriverOptions,
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
    try {
      return new LibvirtDriver(await LibvirtConnection.open(options.uri), options);
    } catch (err) {
      throw toAppError(err, `open ${options.uri}`);
    }
  }

  async inventory(): Promise<HostInventory> {
    try {
      const [node, version] = await Promise.all([this.conn.nodeInfo(), this.conn.version()]);
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

  private consolePath(instanceId: string): string {
    return join(this.dir(instanceId), 'console.log');
  }

  /** test:///default only: a line marking what the agent did, since no guest writes there. */
  private async note(instanceId: string, event: string): Promise<void> {
    if (!this.testHypervisor) return;
    await mkdir(this.dir(instanceId), { recursive: true });
    await appendFile(
      this.consolePath(instanceId),
      `[strato compute-agent ${new Date().toISOString()}] ${event} (libvirt test driver: no guest OS runs, so there is no guest console output)\n`,
    );
  }

  private domainSpec(spec: GuestSpec): DomainSpec {
    const dir = this.dir(spec.instanceId);
    return {
      name: domainName(spec.instanceId),
      uuid: spec.instanceId,
      type: this.testHypervisor ? 'test' : (this.options.domainType ?? 'qemu'),
      memoryMiB: spec.memoryMb,
      vcpus: spec.vcpus,
      os: { boot: 'hd' },
      disks: [{ path: join(dir, 'disk'), format: 'qcow2', targetDev: 'vda' }],
      ...(this.testHypervisor ? {} : { serialLogPath: this.consolePath(spec.instanceId) }),
      metadata: {
        instanceId: spec.instanceId,
        projectId: spec.projectId,
        flavorName: spec.flavorName,
        displayName: spec.displayName,
      },
    };
  }

  async spawn(spec: GuestSpec): Promise<GuestInfo> {
    const ref = { uuid: spec.instanceId };
    let xml: string;
    try {
      xml = buildDomainXml(this.domainSpec(spec));
    } catch (err) {
      throw toAppError(err, `spawn ${spec.instanceId}`);
    }
    const existing = await this.conn.lookup(ref).then(
      () => true,
      (err: unknown) =>
        isLibvirtError(err, 'NoDomain') ? false : Promise.reject(toAppError(err, 'look up guest')),
    );
    if (existing) throw new AppError('Conflict', `a guest for instance ${spec.instanceId} already exists`);
    try {
      await mkdir(this.dir(spec.instanceId), { recursive: true });
      await this.conn.defineAndStart(xml);
      this.owned?.add(spec.instanceId);
      await this.note(spec.instanceId, `guest ${domainName(spec.instanceId)} defined and started`);
      return await this.getInfo(spec.instanceId);
    } catch (err) {
      const failure = toAppError(err, `spawn ${spec.instanceId}`);
      // Only remove what this call made: a name clash (Conflict) belongs to someone else.
      if (failure.kind !== 'Conflict') await this.destroy(spec.instanceId).catch(() => undefined);
      else await rm(this.dir(spec.instanceId), { recursive: true, force: true }).catch(() => undefined);
      throw failure;
    }
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
    await this.conn.destroy(ref).catch(ignore('NoDomain', 'OperationInvalid'));
    await this.conn.undefine(ref).catch(ignore('NoDomain'));
    await rm(this.dir(instanceId), { recursive: true, force: true });
    this.owned?.delete(instanceId);
  }

  private async state(instanceId: string): Promise<DomainState> {
    if (!this.mine(instanceId)) throw this.notFound(instanceId);
    try {
      return (await this.conn.getState({ uuid: instanceId })).state;
    } catch (err) {
      throw toAppError(err, `instance ${instanceId}`);
    }
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toAppError(err, what);
    }
  }

  async powerOn(instanceId: string): Promise<void> {
    if (powerStateOf(await this.state(instanceId)) === POWER_STATE.RUNNING) return;
    await this.run(`start ${instanceId}`, () => this.conn.start({ uuid: instanceId }));
    await this.note(instanceId, 'guest started');
  }

  async powerOff(instanceId: string): Promise<void> {
    const ref = { uuid: instanceId };
    if ((await this.state(instanceId)) === 'shutoff') return;
    await this.run(`shut down ${instanceId}`, () => this.conn.shutdown(ref)).catch((err: AppError) => {
      if (err.kind !== 'Internal') throw err; // e.g. no ACPI: fall through to the hard stop
    });
    const deadline = Date.now() + (this.options.shutdownGraceMs ?? 60_000);
    while ((await this.state(instanceId)) !== 'shutoff' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    if ((await this.state(instanceId)) !== 'shutoff') {
      await this.run(`stop ${instanceId}`, () => this.conn.destroy(ref));
    }
    await this.note(instanceId, 'guest stopped');
  }

  async reboot(instanceId: string, type: RebootType): Promise<void> {
    const ref = { uuid: instanceId };
    const running = powerStateOf(await this.state(instanceId)) === POWER_STATE.RUNNING;
    if (running && type === 'SOFT') {
      await this.run(`reboot ${instanceId}`, () => this.conn.reboot(ref));
    } else {
      if (running) await this.run(`stop ${instanceId}`, () => this.conn.destroy(ref));
      await this.run(`start ${instanceId}`, () => this.conn.start(ref));
    }
    await this.note(instanceId, `guest rebooted (${type})`);
  }

  snapshot(instanceId: string, _destFile: string): Promise<SnapshotFile> {
    // TODO(issue 5): flatten the root disk overlay with qemu-img convert.
    return Promise.reject(new AppError('Invalid', `snapshots of ${instanceId} are not supported yet`));
  }

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
    return this.run(`instance ${instanceId}`, async () => {
      if (!this.mine(instanceId)) throw this.notFound(instanceId);
      const identity = await this.conn.lookup({ uuid: instanceId });
      if (instanceIdOf(identity) !== instanceId) throw this.notFound(instanceId);
      return this.info(instanceId, await this.conn.getInfo({ uuid: instanceId }));
    });
  }

  async list(): Promise<GuestInfo[]> {
    const domains = await this.run('list guests', () => this.conn.listDomains());
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
    await this.watch?.stop();
    this.watch = null;
    await this.conn.close();
  }
}
