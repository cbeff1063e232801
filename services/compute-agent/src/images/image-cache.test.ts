import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleImage, type Image } from '@strato/contracts';
import { createLogger } from '@strato/log';
import { ImageCache, cacheKey } from './image-cache';
import { ImageClient } from './image-client';
import type { DiskImageInfo } from './qemu-img';

const log = createLogger('image-cache-test', { level: 'silent' });

interface Blob {
  data: Buffer;
  /** Send fewer bytes than Content-Length says, then hang up. */
  truncate?: boolean;
  /** Hold the answer until this resolves. */
  gate?: Promise<void>;
}

/** A stand-in for the image service's GET /v2/images/{id}/file on 127.0.0.1. */
async function imageService(blobs: Map<string, Blob>) {
  const requests = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const id = /^\/v2\/images\/([^/]+)\/file$/.exec(req.url ?? '')?.[1];
    const blob = id ? blobs.get(id) : undefined;
    if (!id || !blob) {
      res.writeHead(404).end();
      return;
    }
    requests.set(id, (requests.get(id) ?? 0) + 1);
    void (blob.gate ?? Promise.resolve()).then(() => {
      res.writeHead(200, { 'content-length': blob.data.length });
      if (blob.truncate) {
        res.write(blob.data.subarray(0, blob.data.length >> 1));
        res.destroy();
      } else res.end(blob.data);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const sha512 = (data: Buffer) => createHash('sha512').update(data).digest('hex');
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

function imageOf(id: string, data: Buffer, overrides: Partial<Image> = {}): Image {
  return sampleImage({ id, disk_format: 'raw', size: data.length, checksum: sha512(data), ...overrides });
}

describe('ImageCache', () => {
  let dir: string;
  let blobs: Map<string, Blob>;
  let service: Awaited<ReturnType<typeof imageService>>;
  let client: ImageClient;
  let inUse: Set<string>;
  let inspected: DiskImageInfo;

  const cache = (overrides: Partial<ConstructorParameters<typeof ImageCache>[0]> = {}) =>
    new ImageCache({
      dir,
      maxBytes: 1024 * 1024,
      source: client,
      inspect: () => Promise.resolve(inspected),
      inUse: () => Promise.resolve(inUse),
      log,
      ...overrides,
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strato-cache-'));
    blobs = new Map();
    service = await imageService(blobs);
    client = new ImageClient({ url: service.url, token: () => 'token' });
    inUse = new Set();
    inspected = { format: 'raw', virtualSize: 0, backingFile: null, externalDataFile: false };
  });

  afterEach(async () => {
    client.close();
    await service.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads an image once for concurrent boots and stores it under its checksum', async () => {
    const data = Buffer.from('a bootable disk'.repeat(1000));
    let open: () => void = () => undefined;
    blobs.set('img', { data, gate: new Promise<void>((r) => (open = r)) });
    const images = cache();
    await images.init();
    const leases = Promise.all([1, 2, 3].map(() => images.acquire(imageOf('img', data))));
    await new Promise((r) => setTimeout(r, 50));
    open();
    const held = await leases;
    expect(service.requests.get('img')).toBe(1);
    expect(new Set(held.map((l) => l.path))).toEqual(new Set([join(dir, sha512(data))]));
    const st = await stat(join(dir, sha512(data)));
    expect(st.size).toBe(data.length);
    expect(st.mode & 0o777).toBe(0o644);
    // A later boot finds it in the cache.
    await images.acquire(imageOf('img', data));
    expect(service.requests.get('img')).toBe(1);
  });

  it('verifies MD5 checksums (32 hex digits) as well as SHA-512', async () => {
    const data = Buffer.from('old image');
    blobs.set('old', { data });
    const lease = await cache().acquire(imageOf('old', data, { checksum: md5(data) }));
    expect(lease.key).toBe(md5(data));
  });

  it('refuses data that does not match the checksum, and keeps nothing of it', async () => {
    const data = Buffer.from('tampered');
    blobs.set('bad', { data });
    const wrong = sha512(Buffer.from('original'));
    await expect(cache().acquire(imageOf('bad', data, { checksum: wrong }))).rejects.toMatchObject({
      kind: 'Invalid',
      message: expect.stringContaining('failed verification') as unknown,
    });
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a qcow2 image that refers to another file', async () => {
    const data = Buffer.from('QFI\xfb pretend');
    blobs.set('q', { data });
    inspected = { format: 'qcow2', virtualSize: 1, backingFile: '/etc/shadow', externalDataFile: false };
    await expect(cache().acquire(imageOf('q', data, { disk_format: 'qcow2' }))).rejects.toMatchObject({
      kind: 'Invalid',
    });
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses disk formats it cannot store before downloading anything', async () => {
    const data = Buffer.from('vhd');
    blobs.set('v', { data });
    await expect(cache().acquire(imageOf('v', data, { disk_format: 'vhd' }))).rejects.toMatchObject({
      kind: 'Invalid',
    });
    expect(service.requests.size).toBe(0);
  });

  it('reports a download cut short as Unavailable and removes the partial file', async () => {
    const data = Buffer.alloc(256 * 1024, 7);
    blobs.set('cut', { data, truncate: true });
    await expect(cache().acquire(imageOf('cut', data))).rejects.toMatchObject({ kind: 'Unavailable' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports an image the image service does not have as NotFound', async () => {
    await expect(cache().acquire(imageOf('nope', Buffer.from('x')))).rejects.toMatchObject({
      kind: 'NotFound',
    });
  });

  it('fails cleanly (Internal) when the host has no room for the image', async () => {
    const data = Buffer.alloc(4096, 1);
    blobs.set('big', { data });
    await expect(
      cache({ freeBytes: () => Promise.resolve(100) }).acquire(imageOf('big', data)),
    ).rejects.toMatchObject({
      kind: 'Internal',
      message: expect.stringContaining('Not enough disk space') as unknown,
    });
    expect(await readdir(dir)).toEqual([]);
    expect(service.requests.size).toBe(0);
  });

  it('evicts unused entries, least recently used first, down to the size limit', async () => {
    const images = cache({ maxBytes: 250 });
    await images.init();
    const blob = (id: string, at: number) => {
      const data = Buffer.alloc(100, id.charCodeAt(0));
      blobs.set(id, { data });
      return { data, at };
    };
    const a = blob('a', 1_000);
    const b = blob('b', 2_000);
    const c = blob('c', 3_000);
    for (const [id, x] of [
      ['a', a],
      ['b', b],
    ] as const) {
      (await images.acquire(imageOf(id, x.data))).release();
      await utimes(join(dir, sha512(x.data)), x.at, x.at);
    }
    // 'a' is the oldest but a guest's disk is backed by it: 'b' goes instead.
    inUse = new Set([join(dir, sha512(a.data))]);
    (await images.acquire(imageOf('c', c.data))).release();
    expect((await images.entries()).map((e) => e.key).sort()).toEqual(
      [sha512(a.data), sha512(c.data)].sort(),
    );
    // Nothing in use: down to the limit again, oldest first.
    inUse = new Set();
    await utimes(join(dir, sha512(c.data)), 3, 3);
    expect(await images.evict()).toEqual([]); // 200 bytes: within the limit
    expect(await cache({ maxBytes: 150 }).evict()).toEqual([sha512(c.data)]);
  });

  it('never evicts an entry a spawn holds', async () => {
    const data = Buffer.alloc(100, 9);
    blobs.set('held', { data });
    const images = cache({ maxBytes: 0 });
    const lease = await images.acquire(imageOf('held', data));
    expect(await images.evict()).toEqual([]);
    lease.release();
    expect(await images.evict()).toEqual([sha512(data)]);
  });

  it('removes temporary files a crash left behind when it starts', async () => {
    await writeFile(join(dir, '.tmp-abc-123'), 'partial');
    await cache().init();
    expect(await readdir(dir)).toEqual([]);
  });

  it('keys images without a checksum by their id', () => {
    expect(cacheKey({ id: 'abc-1', checksum: null })).toEqual({ key: 'image-abc-1', algorithm: null });
    expect(() => cacheKey({ id: 'x', checksum: 'not-hex' })).toThrow(
      expect.objectContaining({ kind: 'Invalid' }),
    );
  });
});
