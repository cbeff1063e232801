/**
 * The local-filesystem data backend. Layout under the root:
 *   tmp/<id>        bytes being written (removed at start: an interrupted write)
 *   data/<xx>/<id>  committed items, sharded by the first byte of their random id
 * A write goes to tmp/, is fsynced, renamed into its shard and the shard directory fsynced,
 * so a crash leaves either a whole item or only a temporary file. Ids are random hex: no
 * user input ever reaches a path.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, opendir, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AppError, notFound } from '@strato/errors';
import type { DataBackend, DataReader } from '../domain/data-backend';

const ID_PATTERN = /^[0-9a-f]{32}$/;
const WRITE_BATCH_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

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

  async write(source: AsyncIterable<Uint8Array>): Promise<{ dataId: string; size: number }> {
    const dataId = randomBytes(16).toString('hex');
    const tmp = join(this.tmpDir, dataId);
    const fh = await open(tmp, 'wx', 0o640);
    let size = 0;
    let closed = false;
    try {
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      let inFlight: Promise<unknown> = Promise.resolve();
      for await (const chunk of source) {
        if (chunk.length === 0) continue;
        batch.push(chunk);
        batchBytes += chunk.length;
        size += chunk.length;
        if (batchBytes >= WRITE_BATCH_BYTES) {
          await inFlight;
          inFlight = writeAll(fh, batch);
          batch = [];
          batchBytes = 0;
        }
      }
      await inFlight;
      if (batch.length > 0) await writeAll(fh, batch);
      if (this.fsync) await fh.datasync();
      closed = true;
      await fh.close();
      const target = this.pathOf(dataId);
      await rename(tmp, target);
      if (this.fsync) await this.syncDirOnce(join(this.dataDir, shardOf(dataId)));
      return { dataId, size };
    } catch (err) {
      if (!closed) await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  async open(dataId: string): Promise<DataReader> {
    const path = this.pathOf(dataId);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('The object data is missing.');
      throw err;
    }
    const { size } = await fh.stat();
    return new FsReader(fh, size);
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
