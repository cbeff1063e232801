/**
 * The local-filesystem data backend. Layout under the root:
 *   tmp/<id>        bytes being written (removed at start: an interrupted write)
 *   data/<xx>/<id>  committed items, sharded by the first byte of their random id
 * A write goes to tmp/, is fsynced, renamed into its shard and the shard directory fsynced,
 * so a crash leaves either a whole item or only a temporary file. Ids are random hex: no
 * user input ever reaches a path.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, open as fsOpen, read as fsRead, writev as fsWritev } from 'node:fs';
import { mkdir, open, opendir, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { AppError, notFound } from '@strato/errors';
import type { DataBackend, DataReader, WriteOptions } from '../domain/data-backend';

const ID_PATTERN = /^[0-9a-f]{32}$/;
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Bytes of one upload that may be waiting for the disk before it stops taking more. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const SHARD_RUN = 64;
/** A large write is fdatasynced in the background every this many bytes (the benchmark's raw write does the same). */
export const EARLY_SYNC_BYTES = 32 * 1024 * 1024;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

export interface FsBackendOptions {
  root: string;
  /** fsync files and directories before a write resolves (default true). */
  fsync?: boolean;
}

export class FsDataBackend implements DataBackend {
  readonly name = 'filesystem';
  private readonly tmpDir: string;
  private readonly dataDir: string;
  private readonly fsync: boolean;
  private readonly dirSyncs = new Map<string, DirSync>();
  private shard = '00';
  private shardRun = 0;

  constructor(options: FsBackendOptions) {
    this.tmpDir = join(options.root, 'tmp');
    this.dataDir = join(options.root, 'data');
    this.fsync = options.fsync ?? true;
  }

  async init(): Promise<{ removedTemporary: number }> {
    await mkdir(this.tmpDir, { recursive: true });
    const leftovers = await readdir(this.tmpDir);
    await Promise.all(leftovers.map((f) => rm(join(this.tmpDir, f), { force: true, recursive: true })));
    await mkdir(this.dataDir, { recursive: true });
    const shards = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    await Promise.all(shards.map((s) => mkdir(join(this.dataDir, s), { recursive: true })));
    if (this.fsync) await syncDir(this.dataDir);
    return { removedTemporary: leftovers.length };
  }

  async write(
    source: AsyncIterable<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<{ dataId: string; size: number }> {
    const dataId = this.newDataId();
    const tmp = join(this.tmpDir, dataId);
    let fh: FileHandle | null = null;
    let size = 0;
    /** Batches handed to the disk and not yet known written, oldest first. */
    const queue: { written: Promise<void>; bytes: number }[] = [];
    let queued = 0;
    /** The last write queued: each write starts when the one before it is done. */
    let tail: Promise<void> = Promise.resolve();
    let earlySync: Promise<void> | null = null;
    let syncedUpTo = 0;
    let verified: Promise<unknown> = Promise.resolve();
    try {
      // Nothing touches the disk until a whole batch is in hand: a small object (the common
      // case) is then one O_DSYNC write once it is verified (data durable when the write
      // returns, no separate fdatasync round trip), and an upload that fails early or fails
      // its checks leaves no file at all.
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      for await (const chunk of source) {
        if (chunk.length === 0) continue;
        batch.push(chunk);
        batchBytes += chunk.length;
        size += chunk.length;
        if (batchBytes < WRITE_BATCH_BYTES) continue;
        const handle = (fh ??= await open(tmp, CREATE_FLAGS, 0o640));
        // Several batches may wait for the disk while more arrive, so a slow write does not
        // stop the receiving (and the hashing that goes with it) at once; past
        // MAX_QUEUED_BYTES the upload waits for the disk.
        while (queued >= MAX_QUEUED_BYTES) {
          const oldest = queue.shift()!;
          await oldest.written;
          queued -= oldest.bytes;
        }
        const chunks = batch;
        tail = tail.then(() => writeAll(handle, chunks));
        tail.catch(() => undefined); // handled where it is awaited
        queue.push({ written: tail, bytes: batchBytes });
        queued += batchBytes;
        batch = [];
        batchBytes = 0;
        // A large upload flushes as it goes (one background fdatasync at a time), so the
        // final fdatasync has only the tail left to write instead of the whole object.
        if (this.fsync && size - syncedUpTo >= EARLY_SYNC_BYTES && !earlySync) {
          syncedUpTo = size;
          const sync = tail.then(() => handle.datasync());
          sync.catch(() => undefined); // handled where it is awaited
          earlySync = sync;
          void sync.then(
            () => (earlySync = earlySync === sync ? null : earlySync),
            () => undefined,
          );
        }
      }
      verified = options.verify?.() ?? verified;
      verified.catch(() => undefined); // awaited below
      if (fh) {
        // the caller's checks run while the last bytes go to disk; the rename waits for both
        await tail;
        await earlySync;
        if (batch.length > 0) await writeAll(fh, batch);
        if (this.fsync) await fh.datasync();
        await fh.close();
        fh = null;
        await verified;
      } else {
        await verified;
        await writeSmall(tmp, this.fsync ? CREATE_FLAGS | constants.O_DSYNC : CREATE_FLAGS, batch);
      }
      await rename(tmp, this.pathOf(dataId));
      if (this.fsync) await this.syncDirOnce(join(this.dataDir, shardOf(dataId)));
      return { dataId, size };
    } catch (err) {
      await verified.catch(() => undefined);
      await tail.catch(() => undefined);
      await earlySync?.catch(() => undefined);
      if (fh) await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /**
   * A fresh random id. Its first byte (the shard) stays the same for SHARD_RUN consecutive
   * writes, so concurrent writes rename into the same directory and share its fsync, while
   * over time items still spread evenly over the 256 shards.
   */
  private newDataId(): string {
    if (this.shardRun-- <= 0) {
      this.shard = randomBytes(1).toString('hex');
      this.shardRun = SHARD_RUN - 1;
    }
    return this.shard + randomBytes(15).toString('hex');
  }

  async open(dataId: string): Promise<DataReader> {
    const fh = await this.openForRead(dataId);
    try {
      const { size } = await fh.stat();
      return new FsReader(fh, size);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  private async openForRead(dataId: string): Promise<FileHandle> {
    try {
      return await open(this.pathOf(dataId), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('The object data is missing.');
      throw err;
    }
  }

  async readSmall(dataId: string, size: number): Promise<Buffer> {
    let fd: number;
    try {
      fd = await openFd(this.pathOf(dataId), constants.O_RDONLY, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('The object data is missing.');
      throw err;
    }
    try {
      // The size comes from the metadata: no fstat, and a single read in the common case.
      const buf = Buffer.allocUnsafe(size);
      let off = 0;
      while (off < size) {
        const bytesRead = await readFd(fd, buf, off, size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      if (off !== size) throw new AppError('Internal', `data ${dataId} is shorter than its metadata says`);
      return buf;
    } finally {
      closeSync(fd);
    }
  }

  async remove(dataIds: readonly string[]): Promise<void> {
    await Promise.all(
      dataIds.map((id) =>
        unlink(this.pathOf(id)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        }),
      ),
    );
  }

  async *list(): AsyncIterable<{ dataId: string; modifiedMs: number }> {
    for (let i = 0; i < 256; i++) {
      const shard = join(this.dataDir, i.toString(16).padStart(2, '0'));
      let dir;
      try {
        dir = await opendir(shard);
      } catch {
        continue;
      }
      for await (const entry of dir) {
        if (!ID_PATTERN.test(entry.name)) continue;
        const info = await stat(join(shard, entry.name)).catch(() => null);
        if (info) yield { dataId: entry.name, modifiedMs: info.mtimeMs };
      }
    }
  }

  private pathOf(dataId: string): string {
    if (!ID_PATTERN.test(dataId)) throw new AppError('Internal', 'malformed data id');
    return join(this.dataDir, shardOf(dataId), dataId);
  }

  /** fsyncs a directory after our rename; concurrent requests share one sync when they can. */
  private syncDirOnce(dir: string): Promise<void> {
    let state = this.dirSyncs.get(dir);
    if (!state) {
      state = new DirSync(dir, () => this.dirSyncs.delete(dir));
      this.dirSyncs.set(dir, state);
    }
    return state.request();
  }
}

function shardOf(dataId: string): string {
  return dataId.slice(0, 2);
}

const openFd = promisify(fsOpen);
const writevFd = promisify(fsWritev);
const readFd = (fd: number, buf: Buffer, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) =>
    fsRead(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );

/**
 * A small item in one go: open, one writev (O_DSYNC when durable: the data is on disk when
 * it returns), close. The descriptor API rather than a FileHandle: two thread-pool round
 * trips instead of three, because close(2) of a file whose data is already written (and
 * synced) does not wait for the disk, so it runs inline.
 */
async function writeSmall(path: string, flags: number, chunks: Uint8Array[]): Promise<void> {
  const fd = await openFd(path, flags, 0o640);
  try {
    let pending = chunks;
    while (pending.length > 0) {
      const { bytesWritten } = await writevFd(fd, pending as NodeJS.ArrayBufferView[]);
      pending = dropBytes(pending, bytesWritten);
    }
  } finally {
    closeSync(fd);
  }
}

async function writeAll(fh: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let pending = chunks;
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending);
    pending = dropBytes(pending, bytesWritten);
  }
}

function dropBytes(chunks: Uint8Array[], count: number): Uint8Array[] {
  let left = count;
  const rest: Uint8Array[] = [];
  for (const c of chunks) {
    if (left >= c.length) {
      left -= c.length;
      continue;
    }
    rest.push(left > 0 ? c.subarray(left) : c);
    left = 0;
  }
  return rest;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Coalesces directory syncs: a request made while a sync runs waits for the next one (which
 * starts after the running one, so it covers that request's rename); all requests made
 * meanwhile share it.
 */
class DirSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    private readonly onIdle: () => void,
  ) {}

  request(): Promise<void> {
    if (!this.running) {
      this.running = this.run();
      return this.running;
    }
    if (!this.next) {
      const after = this.running.catch(() => undefined);
      this.next = after.then(() => {
        this.next = null;
        this.running = this.run();
        return this.running;
      });
    }
    return this.next;
  }

  private async run(): Promise<void> {
    try {
      await syncDir(this.dir);
    } finally {
      queueMicrotask(() => {
        if (!this.next) {
          this.running = null;
          this.onIdle();
        }
      });
    }
  }
}

/** Read buffers of READ_CHUNK_BYTES, reused across requests (a few are kept, not all). */
const bufferPool: Buffer[] = [];
const POOL_KEEP = 8;

function takeBuffer(): Buffer {
  return bufferPool.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK_BYTES);
}

function giveBuffer(buf: Buffer): void {
  if (bufferPool.length < POOL_KEEP) bufferPool.push(buf);
}

function closedEarly(): Error {
  return Object.assign(new Error('the client went away'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/** Resolves on 'drain'; rejects when the stream closes or fails first. */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      out.off('error', onError);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(closedEarly());
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    out.on('drain', onDrain);
    out.on('close', onClose);
    out.on('error', onError);
  });
}

class FsReader implements DataReader {
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  stream(start: number, end: number): Readable {
    this.closed = true;
    return this.fh.createReadStream({ start, end, highWaterMark: READ_CHUNK_BYTES, autoClose: true });
  }

  /**
   * Writes bytes start..end to `out` with backpressure: the next chunk is read from disk
   * while the previous one drains into the socket, and chunks are read into pooled buffers
   * that return to the pool once written (no fresh memory per MiB sent: less page-fault
   * and GC work, and a flat RSS however large the object).
   */
  async sendTo(out: Writable, start: number, end: number): Promise<void> {
    this.closed = true;
    let pos = start;
    /** The next chunk: a pooled buffer and the part of it that was read (null at the end). */
    const readNext = async (): Promise<{ buf: Buffer; chunk: Buffer } | null> => {
      if (pos > end) return null;
      const len = Math.min(READ_CHUNK_BYTES, end - pos + 1);
      const buf = takeBuffer();
      try {
        const { bytesRead } = await this.fh.read(buf, 0, len, pos);
        if (bytesRead === 0) throw new AppError('Internal', 'object data is shorter than its metadata says');
        pos += bytesRead;
        return { buf, chunk: buf.subarray(0, bytesRead) };
      } catch (err) {
        giveBuffer(buf);
        throw err;
      }
    };
    let pending = readNext();
    try {
      for (;;) {
        const next = await pending;
        if (!next) return;
        pending = readNext();
        if (out.destroyed) throw closedEarly();
        const flushed = out.write(next.chunk, () => giveBuffer(next.buf));
        if (!flushed) await drained(out);
      }
    } finally {
      // a read still in flight (the loop failed) must finish before the handle closes
      await pending.then(
        (n) => n && giveBuffer(n.buf),
        () => undefined,
      );
      await this.fh.close();
    }
  }

  async readAll(): Promise<Buffer> {
    try {
      const buf = Buffer.allocUnsafe(this.size);
      let off = 0;
      while (off < this.size) {
        const { bytesRead } = await this.fh.read(buf, off, this.size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return off === this.size ? buf : buf.subarray(0, off);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}
