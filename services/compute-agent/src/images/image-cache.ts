/**
 * The host's image cache (Nova's instances/_base): each image the host boots is downloaded
 * once from the image service, streamed to a temporary file while its checksum is computed,
 * verified, checked to be what its record says, and only then stored under its checksum, where
 * every guest on the host shares it as the read-only backing file of its own qcow2 overlay.
 *
 * - Single flight: concurrent boots of the same new image wait for one download.
 * - Leases: a spawn holds a lease on each entry it uses until its disks exist; after that the
 *   overlays themselves keep the entry in use (`inUse` names the backing files of the guests'
 *   disks on this host, read from the disks, so nothing needs rebuilding after a restart).
 * - LRU eviction: when the cache is over its size, the unused entries used least recently go
 *   first. "Used" is the file's mtime, set on every lease, so the order survives restarts.
 * - Nothing half-written ever carries an entry's name: a failed or refused download removes its
 *   temporary file, and temporary files left by a crash are removed at start.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, stat, statfs, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, isAppError } from '@strato/errors';
import type { Image } from '@strato/contracts';
import type { Logger } from '@strato/log';
import type { ImageSource } from './image-client';
import { assertSelfContained, type DiskImageInfo } from './qemu-img';

const TMP_PREFIX = '.tmp-';
const HEX_RE = /^[0-9a-f]+$/;
const ALGORITHM_BY_LENGTH: Readonly<Record<number, string>> = {
  32: 'md5',
  40: 'sha1',
  64: 'sha256',
  128: 'sha512',
};

/** An entry held for a spawn; release() once the guest's disks reference it (or on failure). */
export interface ImageLease {
  /** Absolute path of the verified image file. */
  path: string;
  key: string;
  release(): void;
}

export interface CacheEntry {
  key: string;
  path: string;
  size: number;
  /** Last lease, ms since the epoch. */
  lastUsed: number;
}

export interface ImageCacheDeps {
  /** The cache directory (created mode 0755: QEMU, running as another user, reads entries). */
  dir: string;
  /** Unused entries are evicted while the cache is larger than this. */
  maxBytes: number;
  source: ImageSource;
  /** Reads a downloaded file as `format` ('Invalid' if it is not one). */
  inspect: (path: string, format: 'qcow2' | 'raw') => Promise<DiskImageInfo>;
  /** Absolute paths of cache files that guests' disks on this host use now. */
  inUse: () => Promise<ReadonlySet<string>>;
  log: Logger;
  /** Free bytes on the cache's filesystem (tests replace it). */
  freeBytes?: (dir: string) => Promise<number>;
  now?: () => number;
}

/** How an image's data is stored in the cache: its checksum algorithm and the entry name. */
export function cacheKey(image: Pick<Image, 'id' | 'checksum'>): { key: string; algorithm: string | null } {
  if (image.checksum === null || image.checksum === '') {
    const safe = /^[A-Za-z0-9._-]{1,128}$/.test(image.id)
      ? image.id
      : createHash('sha256').update(image.id).digest('hex');
    return { key: `image-${safe}`, algorithm: null };
  }
  const hex = image.checksum.toLowerCase();
  const algorithm = ALGORITHM_BY_LENGTH[hex.length];
  if (!HEX_RE.test(hex) || algorithm === undefined) {
    throw new AppError(
      'Invalid',
      `Image ${image.id} has a checksum in no known format: ${image.checksum.slice(0, 140)}`,
    );
  }
  return { key: hex, algorithm };
}

/** How the cache reads an image's data: qcow2 as qcow2, everything else it admits as raw bytes. */
export function storedFormat(image: Pick<Image, 'id' | 'disk_format'>): 'qcow2' | 'raw' {
  if (image.disk_format === 'qcow2') return 'qcow2';
  if (image.disk_format === 'raw' || image.disk_format === 'aki' || image.disk_format === 'ari') return 'raw';
  throw new AppError(
    'Invalid',
    `Image ${image.id} has disk_format ${image.disk_format ?? 'none'}, which this host cannot use (qcow2, raw, aki or ari).`,
  );
}

/** Counts and hashes what passes through. */
class Digest extends Transform {
  readonly hash: Hash | null;
  bytes = 0;

  constructor(algorithm: string | null) {
    super();
    this.hash = algorithm === null ? null : createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    done(null, chunk);
  }
}

export class ImageCache {
  private readonly downloads = new Map<string, Promise<void>>();
  private readonly leases = new Map<string, number>();
  /** Evictions run one at a time; a lease waits for a running one before it looks at files. */
  private evicting: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ImageCacheDeps) {}

  get dir(): string {
    return this.deps.dir;
  }

  /** Creates the directory, removes temporary files a crash left behind, evicts. */
  async init(): Promise<void> {
    await mkdir(this.deps.dir, { recursive: true, mode: 0o755 });
    await chmod(this.deps.dir, 0o755);
    for (const name of await readdir(this.deps.dir)) {
      if (name.startsWith(TMP_PREFIX)) await rm(join(this.deps.dir, name), { force: true });
    }
    await this.evict();
  }

  /**
   * The image's verified file in the cache, downloaded first if needed (once, however many
   * callers ask at the same time). The entry is not evicted until the lease is released.
   */
  async acquire(image: Image): Promise<ImageLease> {
    const { key, algorithm } = cacheKey(image);
    const format = storedFormat(image);
    this.leases.set(key, (this.leases.get(key) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.leases.get(key) ?? 1) - 1;
      if (left <= 0) this.leases.delete(key);
      else this.leases.set(key, left);
    };
    try {
      await this.evicting.catch(() => undefined);
      const path = this.pathOf(key);
      let downloaded = false;
      if (!(await this.exists(path))) {
        let flight = this.downloads.get(key);
        if (!flight) {
          flight = this.download(image, key, algorithm, format).finally(() => this.downloads.delete(key));
          this.downloads.set(key, flight);
          downloaded = true;
        }
        await flight;
      }
      const now = new Date((this.deps.now ?? Date.now)());
      await utimes(path, now, now);
      if (downloaded)
        await this.evict().catch((err: unknown) =>
          this.deps.log.warn({ err }, 'image cache eviction failed'),
        );
      return { path, key, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Every entry with its size and last use, least recently used first. */
  async entries(): Promise<CacheEntry[]> {
    const names = await readdir(this.deps.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const entries: CacheEntry[] = [];
    for (const name of names) {
      if (name.startsWith(TMP_PREFIX)) continue;
      const path = join(this.deps.dir, name);
      const st = await stat(path).catch(() => null);
      if (!st?.isFile()) continue;
      entries.push({ key: name, path, size: st.size, lastUsed: st.mtimeMs });
    }
    return entries.sort((a, b) => a.lastUsed - b.lastUsed || a.key.localeCompare(b.key));
  }

  /**
   * Removes unused entries, least recently used first, until the cache holds at most
   * maxBytes - `room`. Entries under lease, being downloaded or backing a guest's disk stay.
   * Resolves to the keys removed.
   */
  evict(room = 0): Promise<string[]> {
    const run = this.evicting.catch(() => undefined).then(() => this.evictNow(room));
    this.evicting = run;
    return run;
  }

  private async evictNow(room: number): Promise<string[]> {
    const entries = await this.entries();
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    const limit = Math.max(0, this.deps.maxBytes - room);
    if (total <= limit) return [];
    const used = await this.deps.inUse();
    const removed: string[] = [];
    for (const entry of entries) {
      if (total <= limit) break;
      if (used.has(entry.path) || this.leases.has(entry.key) || this.downloads.has(entry.key)) continue;
      await rm(entry.path, { force: true });
      total -= entry.size;
      removed.push(entry.key);
    }
    if (removed.length > 0) {
      this.deps.log.info(
        { removed, cacheBytes: total, maxBytes: this.deps.maxBytes },
        'evicted unused cached images',
      );
    }
    return removed;
  }

  private pathOf(key: string): string {
    return join(this.deps.dir, key);
  }

  private async exists(path: string): Promise<boolean> {
    return stat(path).then(
      (st) => st.isFile(),
      () => false,
    );
  }

  private async freeBytes(): Promise<number> {
    if (this.deps.freeBytes) return this.deps.freeBytes(this.deps.dir);
    const fs = await statfs(this.deps.dir);
    return fs.bavail * fs.bsize;
  }

  /** Makes room for `needed` bytes (evicting unused entries if that helps), else 'Internal'. */
  private async ensureRoom(imageId: string, needed: number): Promise<void> {
    if ((await this.freeBytes()) >= needed) return;
    await this.evict(needed);
    const free = await this.freeBytes();
    if (free < needed) {
      throw new AppError(
        'Internal',
        `Not enough disk space on this host for image ${imageId}: ${needed} bytes needed, ${free} free.`,
      );
    }
  }

  private async download(
    image: Image,
    key: string,
    algorithm: string | null,
    format: 'qcow2' | 'raw',
  ): Promise<void> {
    const started = Date.now();
    if (image.size !== null) await this.ensureRoom(image.id, image.size);
    const tmp = join(this.deps.dir, `${TMP_PREFIX}${key.slice(0, 64)}-${randomBytes(6).toString('hex')}`);
    try {
      const { data, size } = await this.deps.source.download(image.id);
      const digest = new Digest(algorithm);
      try {
        if (size !== null && size !== image.size) await this.ensureRoom(image.id, size);
        await pipeline(data, digest, createWriteStream(tmp, { mode: 0o644, flags: 'wx' }));
      } catch (err) {
        data.destroy();
        if (isAppError(err)) throw err;
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOSPC') {
          throw new AppError(
            'Internal',
            `The host ran out of disk space while downloading image ${image.id}.`,
          );
        }
        throw new AppError('Unavailable', `Downloading image ${image.id} failed: ${e.message}`);
      }
      if (size !== null && digest.bytes !== size) {
        throw new AppError(
          'Unavailable',
          `Downloading image ${image.id} failed: ${digest.bytes} of ${size} bytes arrived.`,
        );
      }
      const actual = digest.hash?.digest('hex');
      if (actual !== undefined && actual !== key) {
        throw new AppError(
          'Invalid',
          `Image ${image.id} failed verification: its data has ${algorithm} checksum ${actual}, but the image record says ${key}.`,
        );
      }
      if (algorithm === null) {
        this.deps.log.warn({ imageId: image.id }, 'image has no checksum; cached without verification');
      }
      await this.checkFormat(image, tmp, format);
      await chmod(tmp, 0o644);
      await rename(tmp, this.pathOf(key));
      this.deps.log.info(
        { imageId: image.id, key, bytes: digest.bytes, ms: Date.now() - started },
        'image downloaded into the cache',
      );
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** The file must really be what the record says, and must not reach for other host files. */
  private async checkFormat(image: Image, path: string, format: 'qcow2' | 'raw'): Promise<void> {
    assertSelfContained(image.id, format, await this.deps.inspect(path, format));
  }
}
