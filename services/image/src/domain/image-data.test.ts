import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestStream } from './image-data';
import { parseRange } from './byte-range';
import { HeaderCapture, virtualSizeOf } from './virtual-size';

function chunks(total: number, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < total; i += size) out.push(Buffer.alloc(Math.min(size, total - i), i % 251));
  return out;
}
const sink = () => new Writable({ write: (_c, _e, done) => done() });

describe('checksums computed while streaming', () => {
  it('gives the size, MD5 and SHA-512 of everything that passed', async () => {
    const parts = chunks(1_000_003, 65_536);
    const whole = Buffer.concat(parts);
    const digest = new DigestStream();
    await pipeline(Readable.from(parts), digest, sink());
    expect(digest.digest()).toEqual({
      size: whole.length,
      md5: createHash('md5').update(whole).digest('hex'),
      sha512: createHash('sha512').update(whole).digest('hex'),
    });
  });

  it('fails a stream that ends before the announced size', async () => {
    const digest = new DigestStream({ expectedSize: 100 });
    await expect(pipeline(Readable.from([Buffer.alloc(60)]), digest, sink())).rejects.toMatchObject({
      kind: 'Invalid',
    });
  });

  it('fails a stream longer than announced', async () => {
    const digest = new DigestStream({ expectedSize: 10 });
    await expect(pipeline(Readable.from([Buffer.alloc(11)]), digest, sink())).rejects.toMatchObject({
      kind: 'Invalid',
    });
  });

  it('stops at the size cap', async () => {
    const digest = new DigestStream({ maxBytes: 1000 });
    await expect(pipeline(Readable.from(chunks(5000, 100)), digest, sink())).rejects.toMatchObject({
      kind: 'PayloadTooLarge',
    });
    expect(digest.bytesSeen).toBeLessThanOrEqual(1100);
  });

  it('has no digest before the end', () => {
    expect(() => new DigestStream().digest()).toThrow();
  });
});

describe('virtual size', () => {
  it('reads a qcow2 header and treats raw as its own size', async () => {
    const header = Buffer.alloc(512);
    header.writeUInt32BE(0x514649fb, 0);
    header.writeUInt32BE(3, 4);
    header.writeBigUInt64BE(64n * 1024n * 1024n, 24);
    const capture = new HeaderCapture();
    await pipeline(
      Readable.from([header.subarray(0, 10), header.subarray(10), Buffer.alloc(4096)]),
      capture,
      sink(),
    );
    expect(capture.header()).toEqual(header);
    expect(virtualSizeOf('qcow2', capture.header(), 4608)).toBe(67108864);
    expect(virtualSizeOf('qcow2', Buffer.alloc(512), 4608)).toBeNull();
    expect(virtualSizeOf('raw', Buffer.alloc(0), 1234)).toBe(1234);
    expect(virtualSizeOf(null, header, 1234)).toBeNull();
  });
});

describe('Range header', () => {
  it('reads single ranges, open and suffix ranges', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=90-500', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
  });

  it('ignores what it does not serve', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
    expect(parseRange('bytes=5-1', 100)).toBeNull();
  });

  it('refuses a range starting past the end with 416', () => {
    expect(() => parseRange('bytes=100-', 100)).toThrow(
      expect.objectContaining({ kind: 'RangeNotSatisfiable', size: 100 }),
    );
    expect(() => parseRange('bytes=-0', 100)).toThrow(
      expect.objectContaining({ kind: 'RangeNotSatisfiable' }),
    );
  });
});
