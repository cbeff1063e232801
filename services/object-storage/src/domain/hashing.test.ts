import { createHash, randomBytes } from 'node:crypto';
import { HashThreadPool, hashThreads } from './hash-threads';
import { HashingSource, OFFLOAD_AFTER_BYTES, type UploadExpectations } from './hashing';

const MiB = 1024 * 1024;

/** The bytes cut into chunks of the given sizes, repeated until the bytes run out. */
async function* pieces(bytes: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

/** Reads the upload to its end and verifies it, as the backend does; its bytes. */
async function consume(source: HashingSource): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const chunk of source) out.push(chunk);
  await source.verify();
  return Buffer.concat(out);
}

const hex = (algorithm: string, bytes: Buffer) => createHash(algorithm).update(bytes).digest('hex');

function upload(bytes: Buffer, sizes: number[], expect: Partial<UploadExpectations> = {}) {
  return new HashingSource(pieces(bytes, sizes), { maxSize: 64 * MiB, ...expect });
}

describe('HashingSource', () => {
  it('hashes a small upload on the event loop and passes its bytes through unchanged', async () => {
    const start = jest.spyOn(hashThreads, 'start');
    const bytes = randomBytes(10_000);
    const source = upload(bytes, [3000], { length: bytes.length, md5Hex: hex('md5', bytes) });
    expect((await consume(source)).equals(bytes)).toBe(true);
    expect(source.digest).toEqual({ size: bytes.length, md5Hex: hex('md5', bytes) });
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
  });

  it('hashes a large upload on a hash thread, whatever the chunk sizes', async () => {
    const start = jest.spyOn(hashThreads, 'start');
    // chunks smaller than a ring slot, larger than one, and one that spans the offload point
    const bytes = randomBytes(OFFLOAD_AFTER_BYTES * 11 + 12_345);
    const source = upload(bytes, [65_536, 3 * MiB + 7, 1, 700_000], {
      length: bytes.length,
      sha256Hex: hex('sha256', bytes),
    });
    expect((await consume(source)).equals(bytes)).toBe(true);
    expect(source.digest.md5Hex).toBe(hex('md5', bytes));
    expect(start).toHaveBeenCalledWith(['md5', 'sha256']);
    start.mockRestore();
  });

  it('fails a large upload whose MD5 or SHA-256 does not match', async () => {
    const bytes = randomBytes(5 * MiB);
    await expect(
      consume(upload(bytes, [65_536], { md5Hex: hex('md5', Buffer.from('x')) })),
    ).rejects.toMatchObject({
      code: 'BadDigest',
    });
    await expect(
      consume(upload(bytes, [65_536], { sha256Hex: hex('sha256', Buffer.from('x')) })),
    ).rejects.toMatchObject({ code: 'XAmzContentSHA256Mismatch' });
  });

  it('fails a large upload shorter or longer than declared', async () => {
    const bytes = randomBytes(3 * MiB);
    await expect(consume(upload(bytes, [65_536], { length: bytes.length + 1 }))).rejects.toMatchObject({
      code: 'IncompleteBody',
    });
    await expect(consume(upload(bytes, [65_536], { length: bytes.length - 1 }))).rejects.toMatchObject({
      code: 'IncompleteBody',
    });
  });

  it('keeps hashing correctly after abandoned uploads and with more uploads than threads', async () => {
    for (let i = 0; i < 3; i++) {
      const abandoned = upload(randomBytes(4 * MiB), [65_536]);
      let seen = 0;
      for await (const chunk of abandoned) {
        seen += chunk.length;
        if (seen > 2 * MiB) break;
      }
    }
    const uploads = Array.from({ length: 5 }, (_, i) => randomBytes(2 * MiB + i * 100_003));
    const sources = uploads.map((b) => upload(b, [65_536 + 17]));
    await Promise.all(sources.map((s) => consume(s)));
    sources.forEach((s, i) => expect(s.digest.md5Hex).toBe(hex('md5', uploads[i]!)));
  });
});

describe('HashThreadPool', () => {
  it('fails the jobs of a thread that stops, and starts a new thread for later jobs', async () => {
    const pool = new HashThreadPool(1);
    const job = pool.start(['md5']);
    await job.update(randomBytes(3 * MiB));
    await pool.close();
    await expect(job.digests()).rejects.toThrow(/hash thread/);
    const next = pool.start(['md5']);
    const bytes = randomBytes(2 * MiB + 1);
    await next.update(bytes);
    await expect(next.digests()).resolves.toEqual([hex('md5', bytes)]);
    await pool.close();
  });
});
