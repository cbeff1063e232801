/**
 * The only place that knows the libvirt C ABI.
 *
 * The declarations below are plain data (prototype strings in koffi's C-like syntax and struct
 * layouts) so that the same single source of truth can be handed to the plain-JavaScript
 * threads that actually load libvirt.so.0 with koffi (see native/call-thread.js and
 * native/events-thread.js). Nothing outside this package ever sees a pointer: pointers are
 * koffi BigInts and stay inside connection.ts / events.ts.
 *
 * Why calls run on dedicated worker threads and not on koffi's `.async`: libvirt keeps the
 * "last error" in thread-local storage. A `.async` call runs on whatever pool thread is free,
 * so reading virGetLastError afterwards (necessarily another call, on another thread) returns
 * nothing or someone else's error. A call thread performs the call and reads its own error in
 * the same OS thread, synchronously, then posts both back. See docs/libvirt-ffi.md.
 */
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { availableParallelism } from 'node:os';

import { LibvirtError, type RawLibvirtError } from './errors';

export const LIBVIRT_LIBRARY = 'libvirt.so.0';

/** Opaque handle types: all are `void *` to koffi; the aliases keep prototypes readable. */
export const LIBVIRT_POINTER_ALIASES = ['virConnectPtr', 'virDomainPtr', 'virNetworkPtr'] as const;

/** Field lists in declaration order (koffi lays out structs from insertion order). */
export const LIBVIRT_STRUCTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  virNodeInfo: {
    model: 'char[32]',
    memory: 'unsigned long',
    cpus: 'unsigned int',
    mhz: 'unsigned int',
    nodes: 'unsigned int',
    sockets: 'unsigned int',
    cores: 'unsigned int',
    threads: 'unsigned int',
  },
  virDomainInfo: {
    state: 'unsigned char',
    maxMem: 'unsigned long',
    memory: 'unsigned long',
    nrVirtCpu: 'unsigned short',
    cpuTime: 'unsigned long long',
  },
  virError: {
    code: 'int',
    domain: 'int',
    message: 'const char *',
    level: 'int',
    conn: 'void *',
    dom: 'void *',
    str1: 'const char *',
    str2: 'const char *',
    str3: 'const char *',
    int1: 'int',
    int2: 'int',
    net: 'void *',
  },
};

/**
 * The C functions Strato uses. `char *!` tells koffi the string is heap-allocated by libvirt
 * and must be freed with free() right after conversion; `const char *` results are owned by
 * libvirt (e.g. virDomainGetName returns a pointer into the domain object).
 */
export const LIBVIRT_FUNCTIONS = {
  // connection
  virConnectOpen: 'virConnectPtr virConnectOpen(const char *name)',
  virConnectOpenReadOnly: 'virConnectPtr virConnectOpenReadOnly(const char *name)',
  virConnectClose: 'int virConnectClose(virConnectPtr conn)',
  virConnectGetVersion: 'int virConnectGetVersion(virConnectPtr conn, _Out_ unsigned long *hvVer)',
  virConnectGetLibVersion: 'int virConnectGetLibVersion(virConnectPtr conn, _Out_ unsigned long *libVer)',
  virConnectGetHostname: 'char *! virConnectGetHostname(virConnectPtr conn)',
  virConnectGetCapabilities: 'char *! virConnectGetCapabilities(virConnectPtr conn)',
  virConnectGetType: 'const char * virConnectGetType(virConnectPtr conn)',
  virConnectIsAlive: 'int virConnectIsAlive(virConnectPtr conn)',
  virNodeGetInfo: 'int virNodeGetInfo(virConnectPtr conn, _Out_ virNodeInfo *info)',
  virConnectListAllDomains:
    'int virConnectListAllDomains(virConnectPtr conn, _Out_ void **domains, unsigned int flags)',
  // domains
  virDomainLookupByName: 'virDomainPtr virDomainLookupByName(virConnectPtr conn, const char *name)',
  virDomainLookupByUUIDString:
    'virDomainPtr virDomainLookupByUUIDString(virConnectPtr conn, const char *uuidstr)',
  virDomainDefineXML: 'virDomainPtr virDomainDefineXML(virConnectPtr conn, const char *xml)',
  virDomainCreateXML:
    'virDomainPtr virDomainCreateXML(virConnectPtr conn, const char *xml, unsigned int flags)',
  virDomainCreate: 'int virDomainCreate(virDomainPtr dom)',
  virDomainShutdown: 'int virDomainShutdown(virDomainPtr dom)',
  virDomainDestroy: 'int virDomainDestroy(virDomainPtr dom)',
  virDomainReboot: 'int virDomainReboot(virDomainPtr dom, unsigned int flags)',
  virDomainReset: 'int virDomainReset(virDomainPtr dom, unsigned int flags)',
  virDomainSuspend: 'int virDomainSuspend(virDomainPtr dom)',
  virDomainResume: 'int virDomainResume(virDomainPtr dom)',
  virDomainUndefine: 'int virDomainUndefine(virDomainPtr dom)',
  virDomainUndefineFlags: 'int virDomainUndefineFlags(virDomainPtr dom, unsigned int flags)',
  virDomainGetInfo: 'int virDomainGetInfo(virDomainPtr dom, _Out_ virDomainInfo *info)',
  virDomainGetState:
    'int virDomainGetState(virDomainPtr dom, _Out_ int *state, _Out_ int *reason, unsigned int flags)',
  virDomainGetXMLDesc: 'char *! virDomainGetXMLDesc(virDomainPtr dom, unsigned int flags)',
  virDomainGetName: 'const char * virDomainGetName(virDomainPtr dom)',
  virDomainGetUUIDString: 'int virDomainGetUUIDString(virDomainPtr dom, _Out_ uint8_t *buf)',
  virDomainIsActive: 'int virDomainIsActive(virDomainPtr dom)',
  virDomainIsPersistent: 'int virDomainIsPersistent(virDomainPtr dom)',
  virDomainFree: 'int virDomainFree(virDomainPtr dom)',
  // virtual networks
  virNetworkLookupByName: 'virNetworkPtr virNetworkLookupByName(virConnectPtr conn, const char *name)',
  virNetworkDefineXML: 'virNetworkPtr virNetworkDefineXML(virConnectPtr conn, const char *xml)',
  virNetworkCreate: 'int virNetworkCreate(virNetworkPtr net)',
  virNetworkDestroy: 'int virNetworkDestroy(virNetworkPtr net)',
  virNetworkUndefine: 'int virNetworkUndefine(virNetworkPtr net)',
  virNetworkIsActive: 'int virNetworkIsActive(virNetworkPtr net)',
  virNetworkGetAutostart: 'int virNetworkGetAutostart(virNetworkPtr net, _Out_ int *autostart)',
  virNetworkSetAutostart: 'int virNetworkSetAutostart(virNetworkPtr net, int autostart)',
  virNetworkGetXMLDesc: 'char *! virNetworkGetXMLDesc(virNetworkPtr net, unsigned int flags)',
  virNetworkFree: 'int virNetworkFree(virNetworkPtr net)',
  // errors
  virGetLastError: 'virError * virGetLastError()',
  virResetLastError: 'void virResetLastError()',
  virSetErrorFunc: 'void virSetErrorFunc(void *userData, void *handler)',
  // events (used by native/events-thread.js only)
  virEventRegisterDefaultImpl: 'int virEventRegisterDefaultImpl()',
  virEventRunDefaultImpl: 'int virEventRunDefaultImpl()',
  virEventAddTimeout: 'int virEventAddTimeout(int timeout, void *cb, void *opaque, void *ff)',
  virEventRemoveTimeout: 'int virEventRemoveTimeout(int timer)',
  virConnectDomainEventRegisterAny:
    'int virConnectDomainEventRegisterAny(virConnectPtr conn, virDomainPtr dom, int eventID, void *cb, void *opaque, void *freecb)',
  virConnectDomainEventDeregisterAny:
    'int virConnectDomainEventDeregisterAny(virConnectPtr conn, int callbackID)',
} as const;

export type LibvirtFunctionName = keyof typeof LIBVIRT_FUNCTIONS;

/** Callback prototypes for the events thread. */
export const LIBVIRT_CALLBACKS = {
  lifecycle:
    'int StratoLifecycleCallback(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)',
  timeout: 'void StratoTimeoutCallback(int timer, void *opaque)',
} as const;

/** Everything a native thread needs to bind libvirt; passed as workerData. */
export interface LibvirtAbi {
  library: string;
  pointerAliases: readonly string[];
  structs: Readonly<Record<string, Readonly<Record<string, string>>>>;
  functions: Readonly<Record<string, string>>;
  callbacks: Readonly<Record<string, string>>;
}

export const LIBVIRT_ABI: LibvirtAbi = {
  library: LIBVIRT_LIBRARY,
  pointerAliases: LIBVIRT_POINTER_ALIASES,
  structs: LIBVIRT_STRUCTS,
  functions: LIBVIRT_FUNCTIONS,
  callbacks: LIBVIRT_CALLBACKS,
};

/** A libvirt object handle (virConnectPtr, virDomainPtr) as koffi represents it. */
export type NativePointer = bigint;

// Constants from libvirt-domain.h / libvirt-host.h / virterror.h.
export const VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1;
export const VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA = 2;
export const VIR_DOMAIN_UNDEFINE_NVRAM = 4;
export const VIR_DOMAIN_EVENT_ID_LIFECYCLE = 0;
export const VIR_UUID_STRING_BUFLEN = 37;

/** Which return values mean a step failed: NULL (a handle), negative (a status), or none. */
export type StepCheck = 'null' | 'negative' | 'none';

/**
 * An argument that names an earlier step's result: its return value, or with `path`, a value
 * in its arguments after the call (an `_Out_` parameter).
 */
export interface StepRef {
  $step: number;
  path?: readonly number[];
}

/** The return value of step `step` (or, with a path, an output in its arguments). */
export function stepRef(step: number, path?: readonly number[]): StepRef {
  return path === undefined ? { $step: step } : { $step: step, path };
}

/** One C call of a sequence (CallThreadPool.sequence). */
export interface NativeStep {
  /** A libvirt function, or '$takePointerArray' (array, count): decodes and frees a libvirt array. */
  fn: LibvirtFunctionName | '$takePointerArray';
  args: unknown[];
  check: StepCheck;
  /**
   * 'ok' (the default): only while no 'ok' step before it has failed. 'always': whatever
   * failed before (frees). 'failed': only once an 'ok' step has failed (undoing what the
   * steps before did). Every way, only if each step it names ran and succeeded.
   */
  when?: 'ok' | 'always' | 'failed';
}

/** What became of one step of a sequence. */
export interface StepResult {
  /** False when its `when` or a failed step it names kept it from running. */
  ran: boolean;
  /** It ran and its check says it failed (or koffi refused its arguments). */
  failed: boolean;
  ret: unknown;
  args: unknown[];
  error: RawLibvirtError | null;
}

export interface NativeSequenceResult {
  results: StepResult[];
  /** The first 'ok' step that failed, or -1. */
  failedAt: number;
  threadId: number;
}

interface Pending {
  id: number;
  steps: NativeStep[];
  resolve: (result: NativeSequenceResult) => void;
  reject: (err: Error) => void;
  /** Called once it is resolved or rejected (close() waits for that). */
  settled?: () => void;
}

interface Lane {
  worker: Worker;
  busy: Pending | null;
}

type LaneMessage =
  | ({ type: 'sequence'; id: number } & NativeSequenceResult)
  | { type: 'failure'; id: number; message: string };

export interface CallThreadPoolOptions {
  /**
   * Calls that may run at once. Each runs on its own worker thread, so a 2 s virDomainDestroy
   * on qemu:///system holds one thread and the others keep serving; extra calls wait in a
   * FIFO queue. These are worker_threads, not the libuv pool, so UV_THREADPOOL_SIZE is
   * irrelevant and fs/dns/crypto are never starved by libvirt.
   */
  threads?: number;
}

export const DEFAULT_CALL_THREADS = Math.max(2, Math.min(4, availableParallelism()));

const CALL_THREAD_SCRIPT = path.join(__dirname, 'native', 'call-thread.js');

/**
 * A fixed set of threads that run libvirt calls synchronously (off the JS thread) and read the
 * thread-local error right after each call. The JS side is Promise-based.
 */
export class CallThreadPool {
  private readonly size: number;
  private readonly lanes: Lane[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(options: CallThreadPoolOptions = {}) {
    const size = options.threads ?? DEFAULT_CALL_THREADS;
    if (!Number.isInteger(size) || size < 1 || size > 64) {
      throw new RangeError(`threads must be an integer between 1 and 64, got ${String(size)}`);
    }
    this.size = size;
  }

  /**
   * Runs `steps` in order on one call thread, in one round trip (an operation's lookup, calls
   * and free). Rejects only if the thread itself failed; the steps' own failures are in the
   * result.
   */
  sequence(steps: NativeStep[]): Promise<NativeSequenceResult> {
    if (this.closed) return Promise.reject(new Error('libvirt call threads are shut down'));
    return new Promise<NativeSequenceResult>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, steps, resolve, reject });
      this.pump();
    });
  }

  /** Waits for queued and running calls to finish, then stops the threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(
      [...this.queue, ...this.lanes.flatMap((l) => (l.busy ? [l.busy] : []))].map(
        (p) =>
          new Promise<void>((done) => {
            p.settled = done;
          }),
      ),
    );
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
    this.lanes.length = 0;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let lane = this.lanes.find((l) => l.busy === null);
      if (!lane && this.lanes.length < this.size) lane = this.spawnLane();
      if (!lane) return;
      const next = this.queue.shift()!;
      lane.busy = next;
      lane.worker.postMessage({ id: next.id, steps: next.steps });
    }
  }

  private spawnLane(): Lane {
    const worker = new Worker(CALL_THREAD_SCRIPT, { workerData: LIBVIRT_ABI });
    const lane: Lane = { worker, busy: null };
    worker.on('message', (msg: LaneMessage) => {
      const pending = lane.busy;
      if (!pending || pending.id !== msg.id) return;
      lane.busy = null;
      if (msg.type === 'sequence') {
        pending.resolve({ results: msg.results, failedAt: msg.failedAt, threadId: msg.threadId });
      } else {
        pending.reject(new LibvirtError({ code: -1, domain: 0, message: msg.message }));
      }
      pending.settled?.();
      this.pump();
    });
    const fail = (err: Error) => {
      const idx = this.lanes.indexOf(lane);
      if (idx >= 0) this.lanes.splice(idx, 1);
      const pending = lane.busy;
      lane.busy = null;
      pending?.reject(
        new LibvirtError({ code: -1, domain: 0, message: `libvirt call thread failed: ${err.message}` }),
      );
      pending?.settled?.();
      if (!this.closed) this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`exited with code ${code}`));
    });
    this.lanes.push(lane);
    return lane;
  }
}
