/**
 * Wraps an upload's byte stream: counts and hashes the bytes as they pass (MD5 always,
 * SHA-256 when a payload hash must be checked), refuses more than the allowed size, and at
 * the end checks length and digests. A failed check throws from the iteration itself, so the
 * backend writing the stream aborts and nothing becomes visible.
 */
import { createHash, type Hash } from 'node:crypto';
import { storageError } from './errors';

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

export class HashingSource implements AsyncIterable<Uint8Array> {
  private readonly md5: Hash = createHash('md5');
  private readonly sha256: Hash | null;
  private size = 0;
  private finished: UploadDigest | null = null;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    private readonly expect: UploadExpectations,
  ) {
    if (expect.length !== undefined && expect.length > expect.maxSize) {
      throw storageError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    }
    this.sha256 = expect.sha256Hex ? createHash('sha256') : null;
  }

  /** Size and MD5 once the stream has been fully consumed and checked. */
  get digest(): UploadDigest {
    if (!this.finished) throw new Error('upload digest read before the upload finished');
    return this.finished;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const { maxSize, length } = this.expect;
    for await (const chunk of this.source) {
      this.size += chunk.length;
      if (this.size > maxSize) {
        throw storageError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
      }
      if (length !== undefined && this.size > length) {
        throw storageError('IncompleteBody', 'The request body is longer than its declared length');
      }
      this.md5.update(chunk);
      this.sha256?.update(chunk);
      yield chunk;
    }
    if (length !== undefined && this.size !== length) {
      throw storageError('IncompleteBody', 'You did not provide the number of bytes specified');
    }
    const md5Hex = this.md5.digest('hex');
    if (this.expect.md5Hex !== undefined && this.expect.md5Hex.toLowerCase() !== md5Hex) {
      throw storageError(
        'BadDigest',
        'The Content-MD5 or ETag you specified did not match what was received.',
      );
    }
    if (this.sha256 && this.sha256.digest('hex') !== this.expect.sha256Hex?.toLowerCase()) {
      throw storageError(
        'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
    }
    this.finished = { size: this.size, md5Hex };
  }
}
