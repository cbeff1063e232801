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
  stepRef,
  type LibvirtFunctionName,
  type NativePointer,
  type NativeStep,
  type StepCheck,
  type StepRef,
  type StepResult,
} from './ffi';
import { LibvirtError, libvirtErrorFrom } from './errors';

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

/** What a step was doing, for its error: fixed, or worked out from the steps before it. */
type Operation = string | ((results: readonly StepResult[]) => string);

/**
 * The C calls of one operation, run in one round trip to a call thread (CallThreadPool
 * .sequence): a lookup, the calls on the handle it gave, and the handle's free.
 */
class Script {
  readonly steps: NativeStep[] = [];
  private readonly operations: Operation[] = [];

  /** Adds a step; returns a reference to its return value (for the steps after it). */
  add(
    fn: LibvirtFunctionName | '$takePointerArray',
    args: unknown[],
    check: StepCheck,
    operation: Operation,
    when: NativeStep['when'] = 'ok',
  ): StepRef {
    this.steps.push({ fn, args, check, when });
    this.operations.push(operation);
    return stepRef(this.steps.length - 1);
  }

  /** The error of step `at`, which failed, as a LibvirtError naming its operation. */
  errorAt(at: number, results: readonly StepResult[]): LibvirtError {
    const operation = this.operations[at]!;
    const name = typeof operation === 'string' ? operation : operation(results);
    return libvirtErrorFrom(results[at]!.error, name);
  }
}

/** Steps reading a domain's name and UUID; `read` decodes them from the results. */
function addIdentity(script: Script, dom: unknown, when?: NativeStep['when']) {
  const name = script.add('virDomainGetName', [dom], 'null', 'get domain name', when);
  const uuid = script.add(
    'virDomainGetUUIDString',
    [dom, new Uint8Array(VIR_UUID_STRING_BUFLEN)],
    'negative',
    'get domain UUID',
    when,
  );
  return {
    read: (results: readonly StepResult[]): DomainIdentity => ({
      name: String(results[name.$step]!.ret),
      uuid: cString(results[uuid.$step]!.args[1]),
    }),
  };
}

/** A step reading a domain's info (virDomainGetInfo); `read` decodes it. */
function addInfo(script: Script, dom: unknown, when?: NativeStep['when']) {
  const step = script.add('virDomainGetInfo', [dom, {}], 'negative', 'get domain info', when);
  return {
    read: (results: readonly StepResult[]): DomainInfo => {
      const info = results[step.$step]!.args[1] as Record<string, unknown>;
      return {
        state: domainStateName(toNumber(info.state)),
        maxMemKiB: toNumber(info.maxMem),
        memKiB: toNumber(info.memory),
        vcpus: toNumber(info.nrVirtCpu),
        cpuTimeNs: toNumber(info.cpuTime),
      };
    },
  };
}

/** Frees a handle, whatever failed after it was obtained (not one never obtained). */
function freeAfter(script: Script, free: 'virDomainFree' | 'virNetworkFree', handle: StepRef): void {
  script.add(free, [handle], 'none', free, 'always');
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
      const [result] = (await pool.sequence([{ fn, args: [uri], check: 'null' }])).results;
      if (typeof result?.ret !== 'bigint') {
        const raw = result?.error ?? { code: 5, domain: 0, message: 'failed to connect to the hypervisor' };
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
        await this.pool.sequence([{ fn: 'virConnectClose', args: [this.conn], check: 'none' }]);
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
    return this.runScript((script) => {
      const step = script.add('virConnectGetHostname', [this.conn], 'null', 'get hostname');
      return (results) => String(results[step.$step]!.ret);
    });
  }

  nodeInfo(): Promise<NodeInfo> {
    return this.runScript((script) => {
      const step = script.add('virNodeGetInfo', [this.conn, {}], 'negative', 'get node info');
      return (results) => {
        const info = results[step.$step]!.args[1] as Record<string, unknown>;
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
      };
    });
  }

  version(): Promise<LibvirtVersion> {
    return this.runScript((script) => {
      const hv = script.add('virConnectGetVersion', [this.conn, [0]], 'negative', 'get hypervisor version');
      const lib = script.add('virConnectGetLibVersion', [this.conn, [0]], 'negative', 'get library version');
      const type = script.add('virConnectGetType', [this.conn], 'null', 'get driver type');
      const out = (results: readonly StepResult[], ref: StepRef) =>
        toNumber((results[ref.$step]!.args[1] as unknown[])[0]);
      return (results) => ({
        driver: String(results[type.$step]!.ret),
        hypervisor: formatVersion(out(results, hv)),
        library: formatVersion(out(results, lib)),
      });
    });
  }

  /** The host capabilities XML (virConnectGetCapabilities). */
  capabilities(): Promise<string> {
    return this.runScript((script) => {
      const step = script.add('virConnectGetCapabilities', [this.conn], 'null', 'get capabilities');
      return (results) => String(results[step.$step]!.ret);
    });
  }

  /** True while the connection (e.g. to libvirtd) is usable. */
  isAlive(): Promise<boolean> {
    return this.runScript((script) => {
      const step = script.add('virConnectIsAlive', [this.conn], 'negative', 'check connection');
      return (results) => results[step.$step]!.ret === 1;
    });
  }

  // ---- domains ----------------------------------------------------------------------------

  /** All domains, running or defined, as plain records. Domains that vanish meanwhile are left out. */
  listDomains(): Promise<DomainRecord[]> {
    return this.run(async () => {
      // Two round trips however many domains there are: the list, then every domain's reads.
      const listing = new Script();
      const listed = listing.add(
        'virConnectListAllDomains',
        [this.conn, [null], 0],
        'negative',
        'list domains',
      );
      listing.add('$takePointerArray', [stepRef(listed.$step, [1, 0]), listed], 'none', 'take the list');
      const pointers = (await this.play(listing))[1]!.ret as NativePointer[];
      if (pointers.length === 0) return [];
      // Each read runs whatever failed before it (a domain that vanished meanwhile is left out).
      const reads = new Script();
      const readers = pointers.map((dom) => {
        const first = reads.steps.length;
        const identity = addIdentity(reads, dom, 'always');
        const info = addInfo(reads, dom, 'always');
        reads.add('virDomainFree', [dom], 'none', 'free domain', 'always');
        return { first, last: reads.steps.length - 1, identity, info };
      });
      const { results } = await this.pool.sequence(reads.steps);
      const records: DomainRecord[] = [];
      for (const { first, last, identity, info } of readers) {
        // The free (last) is not checked: a failed free leaves nothing to do.
        const failed = results.slice(first, last).findIndex((r) => r.failed);
        if (failed < 0) {
          records.push({ ...identity.read(results), ...info.read(results) });
          continue;
        }
        const err = reads.errorAt(first + failed, results);
        if (err.kind !== 'NoDomain') throw err;
      }
      return records;
    });
  }

  /** Defines a persistent domain from XML (virDomainDefineXML) without starting it. */
  define(xml: string): Promise<DomainIdentity> {
    return this.run(async () => {
      const script = new Script();
      const dom = script.add('virDomainDefineXML', [this.conn, xml], 'null', 'define domain');
      const identity = addIdentity(script, dom);
      freeAfter(script, 'virDomainFree', dom);
      return identity.read(await this.play(script));
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
      const script = new Script();
      const dom = script.add('virDomainDefineXML', [this.conn, xml], 'null', 'define domain');
      const identity = addIdentity(script, dom);
      script.add('virDomainCreate', [dom], 'negative', (results) => {
        return `start domain ${identity.read(results).name}`;
      });
      // Only once something after the define failed: the definition goes again.
      script.add('virDomainUndefine', [dom], 'none', 'undefine after failed start', 'failed');
      const info = addInfo(script, dom);
      freeAfter(script, 'virDomainFree', dom);
      const results = await this.play(script);
      return { ...identity.read(results), ...info.read(results) };
    });
  }

  /** Creates and starts a transient domain (virDomainCreateXML): it vanishes when stopped. */
  createTransient(xml: string): Promise<DomainIdentity> {
    return this.run(async () => {
      const script = new Script();
      const dom = script.add('virDomainCreateXML', [this.conn, xml, 0], 'null', 'create domain');
      const identity = addIdentity(script, dom);
      freeAfter(script, 'virDomainFree', dom);
      return identity.read(await this.play(script));
    });
  }

  /** Name and UUID of a domain; rejects with kind 'NoDomain' when there is none. */
  lookup(ref: DomainRef): Promise<DomainIdentity> {
    return this.withDomain(ref, (script, dom) => addIdentity(script, dom).read);
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
    return this.withDomain(ref, (script, dom) => addInfo(script, dom).read);
  }

  /** Name, UUID and info of one domain, through one lookup. */
  lookupRecord(ref: DomainRef): Promise<DomainRecord> {
    return this.withDomain(ref, (script, dom) => {
      const identity = addIdentity(script, dom);
      const info = addInfo(script, dom);
      return (results) => ({ ...identity.read(results), ...info.read(results) });
    });
  }

  getState(ref: DomainRef): Promise<DomainStateDetail> {
    return this.withDomain(ref, (script, dom) => {
      const step = script.add('virDomainGetState', [dom, [0], [0], 0], 'negative', 'get state');
      return (results) => {
        const { args } = results[step.$step]!;
        return {
          state: domainStateName(toNumber((args[1] as unknown[])[0])),
          reason: toNumber((args[2] as unknown[])[0]),
        };
      };
    });
  }

  /** The domain XML as libvirt stores it (virDomainGetXMLDesc). */
  getXml(ref: DomainRef, options: GetXmlOptions = {}): Promise<string> {
    const flags =
      (options.secure ? VIR_DOMAIN_XML_SECURE : 0) | (options.inactive ? VIR_DOMAIN_XML_INACTIVE : 0);
    return this.withDomain(ref, (script, dom) => {
      const step = script.add('virDomainGetXMLDesc', [dom, flags], 'null', 'get XML');
      return (results) => String(results[step.$step]!.ret);
    });
  }

  isActive(ref: DomainRef): Promise<boolean> {
    return this.withDomain(ref, (script, dom) => {
      const step = script.add('virDomainIsActive', [dom], 'negative', 'check active');
      return (results) => results[step.$step]!.ret === 1;
    });
  }

  isPersistent(ref: DomainRef): Promise<boolean> {
    return this.withDomain(ref, (script, dom) => {
      const step = script.add('virDomainIsPersistent', [dom], 'negative', 'check persistent');
      return (results) => results[step.$step]!.ret === 1;
    });
  }

  // ---- virtual networks ---------------------------------------------------------------------

  /** A virtual network's state; rejects with kind 'NoNetwork' when there is none. */
  lookupNetwork(name: string): Promise<NetworkInfo> {
    return this.withNetwork(name, (script, net) => {
      const active = script.add('virNetworkIsActive', [net], 'negative', `check network ${name}`);
      const autostart = script.add(
        'virNetworkGetAutostart',
        [net, [0]],
        'negative',
        `read autostart of ${name}`,
      );
      return (results) => ({
        name,
        active: results[active.$step]!.ret === 1,
        autostart: toNumber((results[autostart.$step]!.args[1] as unknown[])[0]) === 1,
      });
    });
  }

  /** Defines a persistent network from XML (virNetworkDefineXML) without starting it. */
  defineNetwork(xml: string): Promise<void> {
    return this.runScript((script) => {
      const net = script.add('virNetworkDefineXML', [this.conn, xml], 'null', 'define network');
      freeAfter(script, 'virNetworkFree', net);
      return () => undefined;
    });
  }

  /** Starts a defined network (virNetworkCreate): bridge, NAT rules, DHCP. */
  startNetwork(name: string): Promise<void> {
    return this.networkOp(name, 'virNetworkCreate', [], `start network ${name}`);
  }

  /** Stops a running network (virNetworkDestroy). */
  stopNetwork(name: string): Promise<void> {
    return this.networkOp(name, 'virNetworkDestroy', [], `stop network ${name}`);
  }

  /** Removes a network's persistent definition (virNetworkUndefine). */
  undefineNetwork(name: string): Promise<void> {
    return this.networkOp(name, 'virNetworkUndefine', [], `undefine network ${name}`);
  }

  /** Whether libvirtd starts the network when it starts (virNetworkSetAutostart). */
  setNetworkAutostart(name: string, autostart: boolean): Promise<void> {
    return this.networkOp(
      name,
      'virNetworkSetAutostart',
      [autostart ? 1 : 0],
      `set autostart of network ${name}`,
    );
  }

  /** The network XML as libvirt stores it (virNetworkGetXMLDesc). */
  getNetworkXml(name: string): Promise<string> {
    return this.withNetwork(name, (script, net) => {
      const step = script.add('virNetworkGetXMLDesc', [net, 0], 'null', 'get network XML');
      return (results) => String(results[step.$step]!.ret);
    });
  }

  /**
   * worker_threads id of the thread a trivial call runs on. Exists so tests can prove
   * structurally (without timing) that libvirt calls never run on the JS thread.
   */
  callThreadId(): Promise<number> {
    return this.run(async () => {
      const done = await this.pool.sequence([{ fn: 'virConnectIsAlive', args: [this.conn], check: 'none' }]);
      return done.threadId;
    });
  }

  // ---- internals --------------------------------------------------------------------------

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

  /**
   * Runs one operation on a domain in one round trip: its lookup, the steps `use` adds on the
   * handle, and the handle's free. `use` returns how to read its answer from the results.
   */
  private withDomain<T>(
    ref: DomainRef,
    use: (script: Script, dom: StepRef) => (results: readonly StepResult[]) => T,
  ): Promise<T> {
    return this.runScript((script) => {
      const dom =
        'uuid' in ref
          ? script.add(
              'virDomainLookupByUUIDString',
              [this.conn, ref.uuid],
              'null',
              `look up ${describe(ref)}`,
            )
          : script.add('virDomainLookupByName', [this.conn, ref.name], 'null', `look up ${describe(ref)}`);
      const read = use(script, dom);
      freeAfter(script, 'virDomainFree', dom);
      return read;
    });
  }

  /** The same for a virtual network, looked up by name. */
  private withNetwork<T>(
    name: string,
    use: (script: Script, net: StepRef) => (results: readonly StepResult[]) => T,
  ): Promise<T> {
    return this.runScript((script) => {
      const net = script.add(
        'virNetworkLookupByName',
        [this.conn, name],
        'null',
        `look up network ${JSON.stringify(name)}`,
      );
      const read = use(script, net);
      freeAfter(script, 'virNetworkFree', net);
      return read;
    });
  }

  /**
   * Runs one operation as the script `build` writes, in one round trip; `build` returns how
   * to read the answer from the results.
   */
  private runScript<T>(build: (script: Script) => (results: readonly StepResult[]) => T): Promise<T> {
    return this.run(async () => {
      const script = new Script();
      const read = build(script);
      return read(await this.play(script));
    });
  }

  /** Runs a script; throws the error of its first failed step. */
  private async play(script: Script): Promise<StepResult[]> {
    const { results, failedAt } = await this.pool.sequence(script.steps);
    if (failedAt >= 0) throw script.errorAt(failedAt, results);
    return results;
  }

  private domainOp(ref: DomainRef, fn: LibvirtFunctionName, extra: unknown[], verb: string): Promise<void> {
    return this.withDomain(ref, (script, dom) => {
      script.add(fn, [dom, ...extra], 'negative', `${verb} domain ${describe(ref)}`);
      return () => undefined;
    });
  }

  private networkOp(
    name: string,
    fn: LibvirtFunctionName,
    extra: unknown[],
    operation: string,
  ): Promise<void> {
    return this.withNetwork(name, (script, net) => {
      script.add(fn, [net, ...extra], 'negative', operation);
      return () => undefined;
    });
  }
}
