/**
 * Where image bytes live. The contract every implementation keeps:
 * - `put` consumes the stream to its end and resolves with the size and checksums of what
 *   it stored, computed while streaming; it never holds the whole image in memory. When the
 *   stream fails, or ends before `expectedSize` bytes, it rejects and nothing of the object
 *   is left behind.
 * - `get` streams the stored bytes (or the inclusive byte range asked for); a missing object
 *   is a NotFound.
 * - `delete` resolves when the object is gone, also when it never existed.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { AppError } from '@strato/errors';

export interface ImageDigest {
  size: number;
  /** Hex MD5 (Glance's `checksum`). */
  md5: string;
  /** Hex SHA-512 (Glance's `os_hash_value` with os_hash_algo sha512). */
  sha512: string;
}

/** Inclusive byte offsets, already checked against the image's size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ImageDataStore {
  put(imageId: string, data: Readable, expectedSize?: number): Promise<ImageDigest>;
  get(imageId: string, range?: ByteRange): Promise<Readable>;
  delete(imageId: string): Promise<void>;
  /** Throws when the store cannot be reached (for /readyz). */
  ping?(): Promise<void>;
}

/**
 * A pass-through that hashes (MD5 and SHA-512) and counts the bytes flowing through it. With
 * `expectedSize` it fails the stream when more arrive, or when it ends with fewer (a
 * truncated body); with `maxBytes`, as soon as more than that have passed.
 */
export class DigestStream extends Transform {
  private readonly md5: Hash = createHash('md5');
  private readonly sha512: Hash = createHash('sha512');
  private bytes = 0;
  private result: ImageDigest | null = null;
  private readonly maxBytes: number;
  private readonly expectedSize: number | undefined;

  constructor(options: { maxBytes?: number; expectedSize?: number } = {}) {
    super();
    this.maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
    this.expectedSize = options.expectedSize;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      done(new AppError('PayloadTooLarge', `Image exceeds the storage quota of ${this.maxBytes} bytes.`));
      return;
    }
    if (this.expectedSize !== undefined && this.bytes > this.expectedSize) {
      done(new AppError('Invalid', `Image data is longer than the ${this.expectedSize} bytes announced.`));
      return;
    }
    this.md5.update(chunk);
    this.sha512.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      done(truncated(this.expectedSize, this.bytes));
      return;
    }
    this.result = { size: this.bytes, md5: this.md5.digest('hex'), sha512: this.sha512.digest('hex') };
    done();
  }

  get bytesSeen(): number {
    return this.bytes;
  }

  /** The digest of everything that passed; only after the stream has ended. */
  digest(): ImageDigest {
    if (!this.result) throw new Error('digest requested before the stream ended');
    return this.result;
  }
}

/** The error for a body that ended before the size it announced. */
export function truncated(expected: number, got: number): AppError {
  return new AppError('Invalid', `Image data is truncated: expected ${expected} bytes, got ${got}.`);
}
