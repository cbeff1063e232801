/**
 * qemu-img, run with execFile and argument arrays (no shell), formats always explicit (never
 * probed: a probed "raw" image that really is qcow2 could name any host file as its backing
 * file). Failures become AppErrors: 'Invalid' when the image itself is refused, 'Internal'
 * otherwise (a full disk says so in its message).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppError } from '@strato/errors';

const run = promisify(execFile);

export type DiskFormat = 'qcow2' | 'raw';

export interface DiskImageInfo {
  format: string;
  /** Bytes the guest sees. */
  virtualSize: number;
  /** The backing file as recorded in the image, or null. */
  backingFile: string | null;
  /** qcow2 with an external data file (data-file): its data lives in another host file. */
  externalDataFile: boolean;
}

/**
 * Refuses a qcow2 image that reaches for other host files (a backing file or an external data
 * file): booted, the guest would read them. Raw data is read as bytes and refers to nothing.
 */
export function assertSelfContained(imageId: string, format: DiskFormat, info: DiskImageInfo): void {
  if (format === 'qcow2' && (info.backingFile !== null || info.externalDataFile)) {
    throw new AppError(
      'Invalid',
      `Image ${imageId} is a qcow2 image that refers to other files (a backing or data file); it cannot be booted.`,
    );
  }
}

export interface QemuImgOptions {
  /** The qemu-img binary (default: from PATH). */
  binary?: string;
  timeoutMs?: number;
}

function failure(what: string, err: unknown): AppError {
  const e = err as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
  if (e.code === 'ENOENT') return new AppError('Internal', `${what}: qemu-img is not installed`);
  const detail = (e.stderr ?? '').trim() || e.message;
  if (/No space left on device/i.test(detail)) {
    return new AppError('Internal', `${what}: the host is out of disk space (${detail})`);
  }
  if (e.killed) return new AppError('Internal', `${what}: qemu-img timed out`);
  return new AppError('Internal', `${what}: ${detail}`);
}

export class QemuImg {
  private readonly binary: string;
  private readonly timeoutMs: number;

  constructor(options: QemuImgOptions = {}) {
    this.binary = options.binary ?? 'qemu-img';
    this.timeoutMs = options.timeoutMs ?? 10 * 60_000;
  }

  private async exec(what: string, args: string[]): Promise<string> {
    try {
      const { stdout } = await run(this.binary, args, {
        timeout: this.timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, LC_ALL: 'C' },
      });
      return stdout;
    } catch (err) {
      throw failure(what, err);
    }
  }

  /**
   * What the image is, read as `format`. 'Invalid' when it is not an image of that format.
   * `forceShare` (-U) reads an image a running QEMU holds open.
   */
  async info(path: string, format: string, options: { forceShare?: boolean } = {}): Promise<DiskImageInfo> {
    let stdout: string;
    try {
      stdout = await this.exec(`read image ${path}`, [
        'info',
        '--output=json',
        ...(options.forceShare ? ['-U'] : []),
        '-f',
        format,
        path,
      ]);
    } catch (err) {
      const e = err as AppError;
      if (/out of disk space|not installed|timed out/.test(e.message)) throw e;
      throw new AppError('Invalid', `The image is not a valid ${format} image (${e.message}).`);
    }
    const doc = JSON.parse(stdout) as {
      format?: string;
      'virtual-size'?: number;
      'backing-filename'?: string;
      'full-backing-filename'?: string;
      'format-specific'?: { data?: { 'data-file'?: string } };
    };
    return {
      format: doc.format ?? format,
      virtualSize: doc['virtual-size'] ?? 0,
      backingFile: doc['full-backing-filename'] ?? doc['backing-filename'] ?? null,
      externalDataFile: doc['format-specific']?.data?.['data-file'] !== undefined,
    };
  }

  /** A qcow2 overlay on `backing` (copy-on-write), `sizeBytes` large (default: the backing's size). */
  async createOverlay(
    path: string,
    backing: { path: string; format: DiskFormat },
    sizeBytes?: number,
  ): Promise<void> {
    await this.exec(`create disk ${path}`, [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      backing.format,
      '-b',
      backing.path,
      path,
      ...(sizeBytes !== undefined ? [String(sizeBytes)] : []),
    ]);
  }

  /** An empty qcow2 disk of `sizeBytes`. */
  async createEmpty(path: string, sizeBytes: number): Promise<void> {
    await this.exec(`create disk ${path}`, ['create', '-q', '-f', 'qcow2', path, String(sizeBytes)]);
  }

  /**
   * Copies `source` (read as `sourceFormat`, its backing chain merged in) to a standalone
   * image `dest` in `destFormat`. `forceShare` reads a disk a (paused) QEMU holds open.
   */
  async convert(
    source: { path: string; format: DiskFormat },
    dest: { path: string; format: DiskFormat },
    options: { forceShare?: boolean } = {},
  ): Promise<void> {
    await this.exec(`copy disk ${source.path}`, [
      'convert',
      '-q',
      ...(options.forceShare ? ['-U'] : []),
      '-f',
      source.format,
      '-O',
      dest.format,
      source.path,
      dest.path,
    ]);
  }
}
