/**
 * Wraps an upload's byte stream: counts and hashes the bytes as they pass (MD5 always,
 * SHA-256 when a payload hash must be checked), refuses more than the allowed size and, at
 * the end of the stream, a length other than the declared one: such a check throws from the
 * iteration itself, so the backend writing the stream aborts and nothing becomes visible.
 * The digests are checked by verify(), which the backend calls (DataBackend WriteOptions)
 * after the stream ended and before the data becomes visible, while it flushes to disk.
 * The source must not reuse a chunk's memory once it has yielded it.
 *
 * Small uploads are hashed on the event loop at the end (a worker round trip would cost more
 * than the hash). Once an upload passes OFFLOAD_AFTER_BYTES its bytes go to a hash thread
 * (hash-threads.ts), the bytes held so far first, so hashing runs beside the receiving and
 * the disk writes; the upload then moves no faster than one core hashes.
 */
import { createHash } from 'node:crypto';
import { storageError } from './errors';
import { hashThreads, type DigestAlgorithm, type HashJob } from './hash-threads';

export interface UploadExpectations {
  /** Content-Length (or x-amz-decoded-content-length) when the client declared one. */
  length?: number | undefined;
  /** Largest acceptable size. */
  maxSize: number;
  /** Hex MD5 the client asserted (Swift ETag, S3 Content-MD5). */
  md5Hex?: string | undefined;
  /** Hex SHA-256 of the payload (S3 x-amz-content-sha256). */
  sha256Hex?: string | undefined;
}

export interface UploadDigest {
  size: number;
  md5Hex: string;
}

/** Bytes an upload may reach before its hashing moves to a hash thread. */
export const OFFLOAD_AFTER_BYTES = 1024 * 1024;

/** MD5 (and SHA-256 when asked) of a byte stream: inline while small, then on a hash thread. */
class UploadHasher {
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private job: HashJob | null = null;

  constructor(private readonly algorithms: DigestAlgorithm[]) {}

  /** Takes a chunk; a returned promise means: wait before the next one (the hash thread is behind). */
  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.job) return this.job.update(chunk);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes < OFFLOAD_AFTER_BYTES) return undefined;
    const job = hashThreads.start(this.algorithms);
    this.job = job;
    const held = this.held;
    this.held = [];
    return feed(job, held);
  }

  async digests(): Promise<string[]> {
    if (this.job) return this.job.digests();
    const hashes = this.algorithms.map((a) => createHash(a));
    for (const chunk of this.held) for (const h of hashes) h.update(chunk);
    this.held = [];
    return hashes.map((h) => h.digest('hex'));
  }

  abort(): void {
    this.job?.abort();
    this.held = [];
  }
}

async function feed(job: HashJob, chunks: Uint8Array[]): Promise<void> {
  for (const chunk of chunks) await job.update(chunk);
}

export class HashingSource implements AsyncIterable<Uint8Array> {
  private readonly hasher: UploadHasher;
  private size = 0;
  private ended = false;
  private finished: UploadDigest | null = null;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    private readonly expect: UploadExpectations,
  ) {
    if (expect.length !== undefined && expect.length > expect.maxSize) {
      throw storageError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    }
    this.hasher = new UploadHasher(expect.sha256Hex ? ['md5', 'sha256'] : ['md5']);
  }

  /** Size and MD5 once the stream has been fully consumed and verified. */
  get digest(): UploadDigest {
    if (!this.finished) throw new Error('upload digest read before the upload was verified');
    return this.finished;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const { maxSize, length } = this.expect;
    try {
      for await (const chunk of this.source) {
        this.size += chunk.length;
        if (this.size > maxSize) {
          throw storageError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
        }
        if (length !== undefined && this.size > length) {
          throw storageError('IncompleteBody', 'The request body is longer than its declared length');
        }
        const wait = this.hasher.update(chunk);
        if (wait) await wait;
        yield chunk;
      }
      if (length !== undefined && this.size !== length) {
        throw storageError('IncompleteBody', 'You did not provide the number of bytes specified');
      }
      this.ended = true;
    } finally {
      if (!this.ended) this.hasher.abort();
    }
  }

  /** Once the stream has ended: waits for the digests and checks them against the client's. */
  async verify(): Promise<UploadDigest> {
    if (!this.ended) throw new Error('upload verified before its stream ended');
    const [md5Hex, sha256Hex] = (await this.hasher.digests()) as [string, string | undefined];
    if (this.expect.md5Hex !== undefined && this.expect.md5Hex.toLowerCase() !== md5Hex) {
      throw storageError(
        'BadDigest',
        'The Content-MD5 or ETag you specified did not match what was received.',
      );
    }
    if (sha256Hex !== undefined && sha256Hex !== this.expect.sha256Hex?.toLowerCase()) {
      throw storageError(
        'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
    }
    this.finished = { size: this.size, md5Hex };
    return this.finished;
  }
}
