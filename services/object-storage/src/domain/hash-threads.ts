/**
 * Digests of large uploads computed on worker threads, so that hashing (MD5 runs at well
 * under a gigabyte per second on one core, and every object's ETag is its MD5) overlaps with
 * receiving the body and writing it to disk instead of taking turns with them on the event
 * loop.
 *
 * A job copies the bytes it is given into 1 MiB slots (a memcpy on the event loop, far
 * cheaper than the hash) and moves each full slot to its thread (the ArrayBuffer is
 * transferred, not copied); the thread hashes it and moves it back. A job holds at most SLOTS
 * slots: when all are with the thread, update() waits, and the upload slows to the hash rate
 * instead of buffering without bound. Slots are plain ArrayBuffers rather than one
 * SharedArrayBuffer because copying into shared memory takes V8's slow element-wise path.
 * The worker code is a small inline script (no separate file to locate once the service is
 * bundled), using only node's own modules.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export type DigestAlgorithm = 'md5' | 'sha256';

const SLOT_BYTES = 1024 * 1024;
/** Slots one job may hold (filling, or with its thread). */
const SLOTS = 8;
/** Idle slots the pool keeps for later jobs. */
const SLOTS_KEPT = 2 * SLOTS;

/** Main thread → worker. */
type Command =
  | { op: 'start'; job: number; algorithms: DigestAlgorithm[] }
  | { op: 'update'; job: number; slot: ArrayBuffer; length: number }
  | { op: 'end'; job: number }
  | { op: 'drop'; job: number };

/** Worker → main thread: a hashed slot coming back, or the job is over (digests when it ended). */
type Reply = { job: number; slot: ArrayBuffer } | { job: number; done: true; digests?: string[] };

const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'start') {
    jobs.set(m.job, m.algorithms.map((a) => createHash(a)));
  } else if (m.op === 'update') {
    const bytes = new Uint8Array(m.slot, 0, m.length);
    for (const h of jobs.get(m.job)) h.update(bytes);
    parentPort.postMessage({ job: m.job, slot: m.slot }, [m.slot]);
  } else if (m.op === 'end') {
    const hashes = jobs.get(m.job);
    jobs.delete(m.job);
    parentPort.postMessage({ job: m.job, done: true, digests: hashes.map((h) => h.digest('hex')) });
  } else {
    jobs.delete(m.job);
    parentPort.postMessage({ job: m.job, done: true });
  }
});
`;

class HashThread {
  readonly jobs = new Map<number, HashJob>();
  private readonly worker: Worker;
  private failed: Error | null = null;

  constructor(private readonly onGone: (t: HashThread) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.jobs.get(reply.job)?.receive(reply));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`hash thread exited (code ${code})`)));
  }

  post(command: Command): void {
    if (this.failed) return;
    if (command.op === 'update') this.worker.postMessage(command, [command.slot]);
    else this.worker.postMessage(command);
  }

  add(job: HashJob): void {
    if (this.jobs.size === 0) this.worker.ref();
    this.jobs.set(job.id, job);
  }

  remove(job: HashJob): void {
    this.jobs.delete(job.id);
    if (this.jobs.size === 0) this.worker.unref();
  }

  /** Every job still running here fails; the pool starts a new thread for later jobs. */
  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.onGone(this);
    for (const job of [...this.jobs.values()]) job.fail(err);
    this.jobs.clear();
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Idle slots shared by the jobs of a pool. */
class SlotStore {
  private readonly idle: ArrayBuffer[] = [];

  take(): ArrayBuffer {
    return this.idle.pop() ?? new ArrayBuffer(SLOT_BYTES);
  }

  give(slot: ArrayBuffer): void {
    if (this.idle.length < SLOTS_KEPT) this.idle.push(slot);
  }

  clear(): void {
    this.idle.length = 0;
  }
}

/** One upload's digests, computed on a hash thread. */
export class HashJob {
  /** The slot being filled, as a Buffer over its whole ArrayBuffer. */
  private current: Buffer | null = null;
  private fill = 0;
  /** Slots this job holds: being filled, idle here, or with the thread. */
  private held = 0;
  private readonly spare: ArrayBuffer[] = [];
  private waiter: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private final: { resolve: (d: string[]) => void; reject: (err: Error) => void } | null = null;
  private error: Error | null = null;
  private over = false;

  constructor(
    readonly id: number,
    private readonly thread: HashThread,
    private readonly slots: SlotStore,
    algorithms: DigestAlgorithm[],
  ) {
    thread.add(this);
    thread.post({ op: 'start', job: id, algorithms });
  }

  /**
   * Adds bytes. The bytes are copied before it returns or, when every slot is with the
   * thread, before the returned promise resolves; the caller may reuse `chunk` after that.
   */
  update(chunk: Uint8Array): Promise<void> | undefined {
    const bytes = asBuffer(chunk);
    let offset = 0;
    while (offset < bytes.length) {
      if (this.error) return Promise.reject(this.error);
      if (!this.current) {
        const slot = this.nextSlot();
        if (!slot) {
          const rest = bytes.subarray(offset);
          return this.slotBack().then(() => this.update(rest));
        }
        this.current = Buffer.from(slot);
        this.fill = 0;
      }
      const n = bytes.copy(this.current, this.fill, offset);
      this.fill += n;
      offset += n;
      if (this.fill === SLOT_BYTES) this.send();
    }
    return undefined;
  }

  /** The hex digests, in the order the algorithms were given, once every byte is hashed. */
  digests(): Promise<string[]> {
    if (this.error) return Promise.reject(this.error);
    if (this.current) this.send();
    this.over = true;
    return new Promise((resolve, reject) => {
      this.final = { resolve, reject };
      this.thread.post({ op: 'end', job: this.id });
    });
  }

  /** Stops the job (the upload failed); its digests are never read. */
  abort(): void {
    if (this.over) return;
    this.over = true;
    if (this.current) this.slots.give(this.current.buffer as ArrayBuffer);
    this.current = null;
    this.thread.post({ op: 'drop', job: this.id });
  }

  private nextSlot(): ArrayBuffer | undefined {
    const spare = this.spare.pop();
    if (spare) return spare;
    if (this.held >= SLOTS) return undefined;
    this.held++;
    return this.slots.take();
  }

  private send(): void {
    const slot = this.current!.buffer as ArrayBuffer;
    this.current = null;
    this.thread.post({ op: 'update', job: this.id, slot, length: this.fill });
  }

  private slotBack(): Promise<void> {
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  receive(reply: Reply): void {
    if ('done' in reply) {
      // every slot came back before this reply (the thread answers in order)
      this.thread.remove(this);
      for (const slot of this.spare.splice(0)) this.slots.give(slot);
      if (reply.digests) this.final?.resolve(reply.digests);
      return;
    }
    if (this.over) {
      this.slots.give(reply.slot);
      return;
    }
    this.spare.push(reply.slot);
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.resolve();
  }

  fail(err: Error): void {
    this.error = err;
    this.thread.remove(this);
    this.waiter?.reject(err);
    this.final?.reject(err);
    this.waiter = null;
    this.final = null;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The hash threads of this process: started on first use, one per core at most. */
export class HashThreadPool {
  private readonly threads: HashThread[] = [];
  private readonly slots = new SlotStore();
  private nextJob = 1;

  constructor(private readonly size = Math.max(1, availableParallelism())) {}

  /** A job on the least busy thread (a new one while there are fewer than `size`). */
  start(algorithms: DigestAlgorithm[]): HashJob {
    let thread = this.threads.reduce<HashThread | undefined>(
      (best, t) => (best === undefined || t.jobs.size < best.jobs.size ? t : best),
      undefined,
    );
    if (!thread || (thread.jobs.size > 0 && this.threads.length < this.size)) {
      thread = new HashThread((gone) => {
        const at = this.threads.indexOf(gone);
        if (at >= 0) this.threads.splice(at, 1);
      });
      this.threads.push(thread);
    }
    return new HashJob(this.nextJob++, thread, this.slots, algorithms);
  }

  /** Stops every thread (jobs still running fail). */
  async close(): Promise<void> {
    const threads = this.threads.splice(0);
    this.slots.clear();
    await Promise.all(threads.map((t) => t.terminate()));
  }
}

/** The process's pool, shared by every upload. */
export const hashThreads = new HashThreadPool();
