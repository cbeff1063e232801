/**
 * A libvirt connection with a Promise-based, pointer-free API (like nova's libvirt host.py +
 * guest.py). Every call that talks to the connection runs on a libvirt call thread (see
 * CallThreadPool in ffi.ts); every virDomainPtr obtained here is freed before the method
 * returns; strings libvirt allocates are freed by koffi (`char *!`).
 */
import {
  CallThreadPool,
  VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
  VIR_DOMAIN_UNDEFINE_NVRAM,
  VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
  VIR_UUID_STRING_BUFLEN,
  type LibvirtFunctionName,
  type NativeCallResult,
  type NativePointer,
} from './ffi';
import { LibvirtError, isLibvirtError, libvirtErrorFrom } from './errors';

/** virDomainState, by name. */
export const DOMAIN_STATES = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
] as const;

export type DomainState = (typeof DOMAIN_STATES)[number] | 'unknown';

export function domainStateName(state: number): DomainState {
  return DOMAIN_STATES[state] ?? 'unknown';
}

export interface NodeInfo {
  /** CPU model string as libvirt reports it (e.g. 'x86_64'). */
  model: string;
  /** Logical CPUs usable by guests. */
  cpus: number;
  memoryKiB: number;
  mhz: number;
  numaNodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface LibvirtVersion {
  /** Driver name: 'QEMU', 'TEST', 'LXC'... */
  driver: string;
  /** Hypervisor version as 'major.minor.release' (QEMU's version on qemu:///system). */
  hypervisor: string;
  /** libvirt library version as 'major.minor.release'. */
  library: string;
}

export interface DomainIdentity {
  name: string;
  uuid: string;
}

export interface DomainInfo {
  state: DomainState;
  maxMemKiB: number;
  memKiB: number;
  vcpus: number;
  /** CPU time used, in nanoseconds (a JS number: exact up to ~104 days of CPU time). */
  cpuTimeNs: number;
}

export type DomainRecord = DomainIdentity & DomainInfo;

export interface DomainStateDetail {
  state: DomainState;
  /** The state's reason code (virDomainRunningReason, virDomainShutoffReason...). */
  reason: number;
}

export interface NetworkInfo {
  name: string;
  /** Running now (bridge up, DHCP served). */
  active: boolean;
  /** Started by libvirtd when it starts. */
  autostart: boolean;
}

/** How to find a domain: by its libvirt name or by its UUID (preferred: names can be reused). */
export type DomainRef = { name: string } | { uuid: string };

export interface OpenOptions {
  /** Calls that may run in parallel on this connection (default 2-4 by CPU count). */
  threads?: number;
  /** Open with virConnectOpenReadOnly (monitoring only). */
  readOnly?: boolean;
}

export interface GetXmlOptions {
  /** Include security-sensitive data such as VNC passwords (VIR_DOMAIN_XML_SECURE). */
  secure?: boolean;
  /** The persistent (next boot) definition instead of the live one (VIR_DOMAIN_XML_INACTIVE). */
  inactive?: boolean;
}

export interface UndefineOptions {
  /** Also remove the UEFI NVRAM file (VIR_DOMAIN_UNDEFINE_NVRAM; not for test:///default). */
  nvram?: boolean;
}

const VIR_DOMAIN_XML_SECURE = 1;
const VIR_DOMAIN_XML_INACTIVE = 2;

const failedIfNegative = (ret: unknown) => typeof ret !== 'number' || ret < 0;
const failedIfNull = (ret: unknown) => ret === null || ret === undefined;

function formatVersion(n: number): string {
  return `${Math.floor(n / 1_000_000)}.${Math.floor(n / 1000) % 1000}.${n % 1000}`;
}

function cString(bytes: unknown): string {
  if (!(bytes instanceof Uint8Array)) return '';
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function toNumber(value: unknown): number {
  if (typeof value === 'bigint') return Number(value);
  return typeof value === 'number' ? value : 0;
}

function describe(ref: DomainRef): string {
  return 'uuid' in ref ? `uuid ${ref.uuid}` : `name ${JSON.stringify(ref.name)}`;
}

export class LibvirtConnection {
  private closing: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(
    readonly uri: string,
    private readonly pool: CallThreadPool,
    private readonly conn: NativePointer,
  ) {}

  /** Opens a connection (virConnectOpen). Rejects with kind 'ConnectionFailed' and the like. */
  static async open(uri: string, options: OpenOptions = {}): Promise<LibvirtConnection> {
    const pool = new CallThreadPool({ threads: options.threads });
    try {
      const fn = options.readOnly ? 'virConnectOpenReadOnly' : 'virConnectOpen';
      const result = await pool.call(fn, [uri]);
      if (typeof result.ret !== 'bigint') {
        const raw = result.error ?? { code: 5, domain: 0, message: 'failed to connect to the hypervisor' };
        const cause = new LibvirtError(raw);
        // A failed open is a connection failure, whatever driver-specific code libvirt chose.
        const kind = cause.kind === 'AccessDenied' ? 'AccessDenied' : 'ConnectionFailed';
        throw new LibvirtError(raw, { kind, operation: `open ${uri}` });
      }
      return new LibvirtConnection(uri, pool, result.ret);
    } catch (err) {
      await pool.close();
      throw err;
    }
  }

  /** Waits for in-flight calls, closes the connection and stops its call threads. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      try {
        await this.pool.call('virConnectClose', [this.conn]);
      } finally {
        await this.pool.close();
      }
    })();
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  // ---- host -------------------------------------------------------------------------------

  hostname(): Promise<string> {
    return this.run(async () => {
      const { ret } = await this.invoke('virConnectGetHostname', [this.conn], failedIfNull, 'get hostname');
      return String(ret);
    });
  }

  nodeInfo(): Promise<NodeInfo> {
    return this.run(async () => {
      const { args } = await this.invoke(
        'virNodeGetInfo',
        [this.conn, {}],
        failedIfNegative,
        'get node info',
      );
      const info = args[1] as Record<string, unknown>;
      return {
        model: typeof info.model === 'string' ? info.model : '',
        cpus: toNumber(info.cpus),
        memoryKiB: toNumber(info.memory),
        mhz: toNumber(info.mhz),
        numaNodes: toNumber(info.nodes),
        sockets: toNumber(info.sockets),
        cores: toNumber(info.cores),
        threads: toNumber(info.threads),
      };
    });
  }

  version(): Promise<LibvirtVersion> {
    return this.run(async () => {
      const [hv, lib, type] = await Promise.all([
        this.invoke('virConnectGetVersion', [this.conn, [0]], failedIfNegative, 'get hypervisor version'),
        this.invoke('virConnectGetLibVersion', [this.conn, [0]], failedIfNegative, 'get library version'),
        this.invoke('virConnectGetType', [this.conn], failedIfNull, 'get driver type'),
      ]);
      return {
        driver: String(type.ret),
        hypervisor: formatVersion(toNumber((hv.args[1] as unknown[])[0])),
        library: formatVersion(toNumber((lib.args[1] as unknown[])[0])),
      };
    });
  }

  /** The host capabilities XML (virConnectGetCapabilities). */
  capabilities(): Promise<string> {
    return this.run(async () => {
      const { ret } = await this.invoke(
        'virConnectGetCapabilities',
        [this.conn],
        failedIfNull,
        'get capabilities',
      );
      return String(ret);
    });
  }

  /** True while the connection (e.g. to libvirtd) is usable. */
  isAlive(): Promise<boolean> {
    return this.run(async () => {
      const { ret } = await this.invoke(
        'virConnectIsAlive',
        [this.conn],
        failedIfNegative,
        'check connection',
      );
      return ret === 1;
    });
  }

  // ---- domains ----------------------------------------------------------------------------

  /** All domains, running or defined, as plain records. Domains that vanish meanwhile are left out. */
  listDomains(): Promise<DomainRecord[]> {
    return this.run(async () => {
      const listed = await this.invoke(
        'virConnectListAllDomains',
        [this.conn, [null], 0],
        failedIfNegative,
        'list domains',
      );
      const arrayPtr = (listed.args[1] as unknown[])[0] ?? null;
      const taken = await this.pool.call('$takePointerArray', [arrayPtr, listed.ret]);
      const pointers = taken.ret as NativePointer[];
      const records = await Promise.all(
        pointers.map(async (dom) => {
          try {
            const [identity, info] = await Promise.all([this.identityOf(dom), this.infoOf(dom)]);
            return { ...identity, ...info };
          } catch (err) {
            if (isLibvirtError(err, 'NoDomain')) return null;
            throw err;
          } finally {
            await this.freeDomain(dom);
          }
        }),
      );
      return records.filter((r): r is DomainRecord => r !== null);
    });
  }

  /** Defines a persistent domain from XML (virDomainDefineXML) without starting it. */
  define(xml: string): Promise<DomainIdentity> {
    return this.run(async () => {
      const { ret } = await this.invoke(
        'virDomainDefineXML',
        [this.conn, xml],
        failedIfNull,
        'define domain',
      );
      const dom = ret as NativePointer;
      try {
        return await this.identityOf(dom);
      } finally {
        await this.freeDomain(dom);
      }
    });
  }

  /**
   * Defines a persistent domain and starts it, and returns it as it is once started (name,
   * UUID and info, read through the handle the define gave: no lookup after). If starting
   * fails, the definition is removed again (best effort) and the start error is thrown:
   * nothing is left behind.
   */
  defineAndStart(xml: string): Promise<DomainRecord> {
    return this.run(async () => {
      const { ret } = await this.invoke(
        'virDomainDefineXML',
        [this.conn, xml],
        failedIfNull,
        'define domain',
      );
      const dom = ret as NativePointer;
      try {
        const identity = await this.identityOf(dom);
        try {
          await this.invoke('virDomainCreate', [dom], failedIfNegative, `start domain ${identity.name}`);
        } catch (startError) {
          await this.invoke(
            'virDomainUndefine',
            [dom],
            failedIfNegative,
            'undefine after failed start',
          ).catch(() => undefined);
          throw startError;
        }
        return { ...identity, ...(await this.infoOf(dom)) };
      } finally {
        await this.freeDomain(dom);
      }
    });
  }

  /** Creates and starts a transient domain (virDomainCreateXML): it vanishes when stopped. */
  createTransient(xml: string): Promise<DomainIdentity> {
    return this.run(async () => {
      const { ret } = await this.invoke(
        'virDomainCreateXML',
        [this.conn, xml, 0],
        failedIfNull,
        'create domain',
      );
      const dom = ret as NativePointer;
      try {
        return await this.identityOf(dom);
      } finally {
        await this.freeDomain(dom);
      }
    });
  }

  /** Name and UUID of a domain; rejects with kind 'NoDomain' when there is none. */
  lookup(ref: DomainRef): Promise<DomainIdentity> {
    return this.withDomain(ref, (dom) => this.identityOf(dom));
  }

  /** Starts a defined domain (virDomainCreate). */
  start(ref: DomainRef): Promise<void> {
    return this.domainOp(ref, 'virDomainCreate', [], 'start');
  }

  /** Asks the guest to power off (ACPI); returns once the request is sent, not when it is off. */
  shutdown(ref: DomainRef): Promise<void> {
    return this.domainOp(ref, 'virDomainShutdown', [], 'shut down');
  }

  /** Stops the domain immediately (virDomainDestroy: like pulling the plug). */
  destroy(ref: DomainRef): Promise<void> {
    return this.domainOp(ref, 'virDomainDestroy', [], 'destroy');
  }

  /** Asks the guest to reboot (ACPI or agent, hypervisor default). */
  reboot(ref: DomainRef): Promise<void> {
    return this.domainOp(ref, 'virDomainReboot', [0], 'reboot');
  }

  /** Hard reset, without guest cooperation (virDomainReset). */
  reset(ref: DomainRef): Promise<void> {
    return this.domainOp(ref, 'virDomainReset', [0], 'reset');
  }

  /** Pauses the guest's vCPUs (virDomainSuspend); QEMU flushes its disk caches first. */
  suspend(ref: DomainRef): Promise<void> {
    return this.domainOp(ref, 'virDomainSuspend', [], 'suspend');
  }

  /** Lets a paused guest run again (virDomainResume). */
  resume(ref: DomainRef): Promise<void> {
    return this.domainOp(ref, 'virDomainResume', [], 'resume');
  }

  /**
   * Removes the persistent definition (with managed-save image and snapshot metadata). A
   * running domain keeps running as a transient one until it stops.
   */
  undefine(ref: DomainRef, options: UndefineOptions = {}): Promise<void> {
    let flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    if (options.nvram) flags |= VIR_DOMAIN_UNDEFINE_NVRAM;
    return this.domainOp(ref, 'virDomainUndefineFlags', [flags], 'undefine');
  }

  getInfo(ref: DomainRef): Promise<DomainInfo> {
    return this.withDomain(ref, (dom) => this.infoOf(dom));
  }

  /** Name, UUID and info of one domain, through one lookup. */
  lookupRecord(ref: DomainRef): Promise<DomainRecord> {
    return this.withDomain(ref, async (dom) => {
      const [identity, info] = await Promise.all([this.identityOf(dom), this.infoOf(dom)]);
      return { ...identity, ...info };
    });
  }

  getState(ref: DomainRef): Promise<DomainStateDetail> {
    return this.withDomain(ref, async (dom) => {
      const { args } = await this.invoke(
        'virDomainGetState',
        [dom, [0], [0], 0],
        failedIfNegative,
        'get state',
      );
      return {
        state: domainStateName(toNumber((args[1] as unknown[])[0])),
        reason: toNumber((args[2] as unknown[])[0]),
      };
    });
  }

  /** The domain XML as libvirt stores it (virDomainGetXMLDesc). */
  getXml(ref: DomainRef, options: GetXmlOptions = {}): Promise<string> {
    const flags =
      (options.secure ? VIR_DOMAIN_XML_SECURE : 0) | (options.inactive ? VIR_DOMAIN_XML_INACTIVE : 0);
    return this.withDomain(ref, async (dom) => {
      const { ret } = await this.invoke('virDomainGetXMLDesc', [dom, flags], failedIfNull, 'get XML');
      return String(ret);
    });
  }

  isActive(ref: DomainRef): Promise<boolean> {
    return this.withDomain(ref, async (dom) => {
      const { ret } = await this.invoke('virDomainIsActive', [dom], failedIfNegative, 'check active');
      return ret === 1;
    });
  }

  isPersistent(ref: DomainRef): Promise<boolean> {
    return this.withDomain(ref, async (dom) => {
      const { ret } = await this.invoke('virDomainIsPersistent', [dom], failedIfNegative, 'check persistent');
      return ret === 1;
    });
  }

  // ---- virtual networks ---------------------------------------------------------------------

  /** A virtual network's state; rejects with kind 'NoNetwork' when there is none. */
  lookupNetwork(name: string): Promise<NetworkInfo> {
    return this.withNetwork(name, async (net) => {
      const [active, autostart] = await Promise.all([
        this.invoke('virNetworkIsActive', [net], failedIfNegative, `check network ${name}`),
        this.invoke('virNetworkGetAutostart', [net, [0]], failedIfNegative, `read autostart of ${name}`),
      ]);
      return {
        name,
        active: active.ret === 1,
        autostart: toNumber((autostart.args[1] as unknown[])[0]) === 1,
      };
    });
  }

  /** Defines a persistent network from XML (virNetworkDefineXML) without starting it. */
  defineNetwork(xml: string): Promise<void> {
    return this.run(async () => {
      const { ret } = await this.invoke(
        'virNetworkDefineXML',
        [this.conn, xml],
        failedIfNull,
        'define network',
      );
      await this.pool.call('virNetworkFree', [ret]);
    });
  }

  /** Starts a defined network (virNetworkCreate): bridge, NAT rules, DHCP. */
  startNetwork(name: string): Promise<void> {
    return this.withNetwork(name, async (net) => {
      await this.invoke('virNetworkCreate', [net], failedIfNegative, `start network ${name}`);
    });
  }

  /** Stops a running network (virNetworkDestroy). */
  stopNetwork(name: string): Promise<void> {
    return this.withNetwork(name, async (net) => {
      await this.invoke('virNetworkDestroy', [net], failedIfNegative, `stop network ${name}`);
    });
  }

  /** Removes a network's persistent definition (virNetworkUndefine). */
  undefineNetwork(name: string): Promise<void> {
    return this.withNetwork(name, async (net) => {
      await this.invoke('virNetworkUndefine', [net], failedIfNegative, `undefine network ${name}`);
    });
  }

  /** Whether libvirtd starts the network when it starts (virNetworkSetAutostart). */
  setNetworkAutostart(name: string, autostart: boolean): Promise<void> {
    return this.withNetwork(name, async (net) => {
      await this.invoke(
        'virNetworkSetAutostart',
        [net, autostart ? 1 : 0],
        failedIfNegative,
        `set autostart of network ${name}`,
      );
    });
  }

  /** The network XML as libvirt stores it (virNetworkGetXMLDesc). */
  getNetworkXml(name: string): Promise<string> {
    return this.withNetwork(name, async (net) => {
      const { ret } = await this.invoke('virNetworkGetXMLDesc', [net, 0], failedIfNull, 'get network XML');
      return String(ret);
    });
  }

  /**
   * worker_threads id of the thread a trivial call runs on. Exists so tests can prove
   * structurally (without timing) that libvirt calls never run on the JS thread.
   */
  callThreadId(): Promise<number> {
    return this.run(async () => {
      const result = await this.invoke(
        'virConnectIsAlive',
        [this.conn],
        failedIfNegative,
        'check connection',
      );
      return result.threadId;
    });
  }

  // ---- internals --------------------------------------------------------------------------

  /** Runs one C call on a call thread and throws the thread's libvirt error if it failed. */
  private invoke(
    fn: LibvirtFunctionName,
    args: unknown[],
    failed: (ret: unknown) => boolean,
    operation: string,
  ): Promise<NativeCallResult> {
    return this.pool.call(fn, args).then((result) => {
      if (failed(result.ret)) throw libvirtErrorFrom(result.error, operation);
      return result;
    });
  }

  /**
   * Runs one public operation (several C calls, domain frees included). close() waits for all
   * running operations; operations started after close() reject with kind 'ConnectionFailed'.
   */
  private run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closing) {
      return Promise.reject(
        new LibvirtError(
          { code: -1, domain: 0, message: 'connection is closed' },
          { kind: 'ConnectionFailed' },
        ),
      );
    }
    const running = operation();
    this.inFlight.add(running);
    const forget = () => this.inFlight.delete(running);
    running.then(forget, forget);
    return running;
  }

  private withDomain<T>(ref: DomainRef, use: (dom: NativePointer) => Promise<T>): Promise<T> {
    return this.run(async () => {
      const { ret } =
        'uuid' in ref
          ? await this.invoke(
              'virDomainLookupByUUIDString',
              [this.conn, ref.uuid],
              failedIfNull,
              `look up ${describe(ref)}`,
            )
          : await this.invoke(
              'virDomainLookupByName',
              [this.conn, ref.name],
              failedIfNull,
              `look up ${describe(ref)}`,
            );
      const dom = ret as NativePointer;
      try {
        return await use(dom);
      } finally {
        await this.freeDomain(dom);
      }
    });
  }

  private withNetwork<T>(name: string, use: (net: NativePointer) => Promise<T>): Promise<T> {
    return this.run(async () => {
      const { ret } = await this.invoke(
        'virNetworkLookupByName',
        [this.conn, name],
        failedIfNull,
        `look up network ${JSON.stringify(name)}`,
      );
      const net = ret as NativePointer;
      try {
        return await use(net);
      } finally {
        await this.pool.call('virNetworkFree', [net]);
      }
    });
  }

  private domainOp(ref: DomainRef, fn: LibvirtFunctionName, extra: unknown[], verb: string): Promise<void> {
    return this.withDomain(ref, async (dom) => {
      await this.invoke(fn, [dom, ...extra], failedIfNegative, `${verb} domain ${describe(ref)}`);
    });
  }

  private async identityOf(dom: NativePointer): Promise<DomainIdentity> {
    const [name, uuid] = await Promise.all([
      this.invoke('virDomainGetName', [dom], failedIfNull, 'get domain name'),
      this.invoke(
        'virDomainGetUUIDString',
        [dom, new Uint8Array(VIR_UUID_STRING_BUFLEN)],
        failedIfNegative,
        'get domain UUID',
      ),
    ]);
    return { name: String(name.ret), uuid: cString(uuid.args[1]) };
  }

  private async infoOf(dom: NativePointer): Promise<DomainInfo> {
    const { args } = await this.invoke('virDomainGetInfo', [dom, {}], failedIfNegative, 'get domain info');
    const info = args[1] as Record<string, unknown>;
    return {
      state: domainStateName(toNumber(info.state)),
      maxMemKiB: toNumber(info.maxMem),
      memKiB: toNumber(info.memory),
      vcpus: toNumber(info.nrVirtCpu),
      cpuTimeNs: toNumber(info.cpuTime),
    };
  }

  /** virDomainFree never talks to the hypervisor, but it runs on a call thread like the rest. */
  private async freeDomain(dom: NativePointer): Promise<void> {
    await this.pool.call('virDomainFree', [dom]);
  }
}
