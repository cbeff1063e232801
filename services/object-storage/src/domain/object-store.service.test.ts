import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import { FsDataBackend } from '../backend/fs-backend';
import { objectStorageMigrations } from '../store/migrations';
import { MetadataRepository } from '../store/metadata.repository';
import { sqlDatabaseFor } from '../store/sql';
import { checkObjectName } from './names';
import { ObjectStoreService, type ObjectBody } from './object-store.service';

const log = createLogger('test', { level: 'silent' });
const A = 'AUTH_p1';

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

async function* failingAfter(first: string): AsyncGenerator<Uint8Array> {
  yield Buffer.from(first);
  throw new Error('client went away');
}

async function text(body: ObjectBody): Promise<string> {
  if (body.kind === 'buffer') return body.data.toString();
  const out: Buffer[] = [];
  for await (const c of body.stream) out.push(c as Buffer);
  return Buffer.concat(out).toString();
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('ObjectStoreService on the filesystem backend and SQLite', () => {
  let dir: string;
  let ds: DataSource;
  let store: ObjectStoreService;
  let meta: MetadataRepository;

  async function dataFiles(): Promise<string[]> {
    const shards = await readdir(join(dir, 'objects', 'data'));
    const files = await Promise.all(shards.map((s) => readdir(join(dir, 'objects', 'data', s))));
    return files.flat();
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-store-'));
    ds = await openDatabase({
      url: undefined,
      dataDir: dir,
      schema: 'object_storage',
      entities: [],
      migrations: objectStorageMigrations,
    });
    meta = new MetadataRepository(sqlDatabaseFor(ds, 'object_storage', { durable: false }));
    store = new ObjectStoreService({
      meta,
      data: new FsDataBackend({ root: join(dir, 'objects'), fsync: false }),
      log,
      limits: { maxObjectSize: 1024 * 1024, minPartSize: 5, maxSegments: 100 },
    });
    await store.init();
    await store.createContainer(A, 'c');
  });

  afterEach(async () => {
    await store.drain();
    await ds.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const ref = (name: string) => ({ account: A, container: 'c', name });

  it('stores an object and reads it back with its MD5 as etag', async () => {
    const rec = await store.putObject(ref('a'), chunks('hello ', 'world'), {
      contentType: 'text/plain',
      meta: {},
    });
    expect(rec.etag).toBe(md5('hello world'));
    const view = await store.head(ref('a'));
    expect(await text(await store.read(view))).toBe('hello world');
    expect(await text(await store.read(view, { start: 6, end: 10 }))).toBe('world');
  });

  it('replaces an object atomically and removes the old data after the commit', async () => {
    await store.putObject(ref('a'), chunks('one'), { contentType: '', meta: {} });
    await store.putObject(ref('a'), chunks('two!'), { contentType: '', meta: {} });
    await store.drain();
    expect(await text(await store.read(await store.head(ref('a'))))).toBe('two!');
    expect(await dataFiles()).toHaveLength(1);
    expect(await store.container(A, 'c')).toMatchObject({ objectCount: 1, bytesUsed: 4 });
    expect(await store.account(A)).toMatchObject({ objectCount: 1, bytesUsed: 4, containerCount: 1 });
  });

  it('leaves nothing visible when the checksum does not match', async () => {
    await expect(
      store.putObject(ref('bad'), chunks('payload'), { md5Hex: md5('other'), contentType: '', meta: {} }),
    ).rejects.toMatchObject({ code: 'BadDigest' });
    await expect(store.head(ref('bad'))).rejects.toMatchObject({ code: 'NoSuchKey' });
    expect(await dataFiles()).toHaveLength(0);
    expect(await readdir(join(dir, 'objects', 'tmp'))).toHaveLength(0);
  });

  it('leaves nothing visible when the body is shorter than declared or the client disconnects', async () => {
    await expect(
      store.putObject(ref('short'), chunks('abc'), { length: 10, contentType: '', meta: {} }),
    ).rejects.toMatchObject({ code: 'IncompleteBody' });
    await expect(
      store.putObject(ref('cut'), failingAfter('abc'), { contentType: '', meta: {} }),
    ).rejects.toThrow('client went away');
    expect(await dataFiles()).toHaveLength(0);
    expect((await store.listObjects(A, 'c', { limit: 100 })).entries).toHaveLength(0);
  });

  it('keeps the previous version when an overwrite fails', async () => {
    await store.putObject(ref('a'), chunks('good'), { contentType: '', meta: {} });
    await expect(
      store.putObject(ref('a'), chunks('x'.repeat(2 * 1024 * 1024)), { contentType: '', meta: {} }),
    ).rejects.toMatchObject({ code: 'EntityTooLarge' });
    expect(await text(await store.read(await store.head(ref('a'))))).toBe('good');
  });

  it('removes temporary files left by a crash at start and sweeps orphaned data', async () => {
    await writeFile(join(dir, 'objects', 'tmp', '0123456789abcdef0123456789abcdef'), 'partial');
    await writeFile(join(dir, 'objects', 'data', 'ab', 'ab000000000000000000000000000000'), 'orphan');
    await store.putObject(ref('kept'), chunks('kept'), { contentType: '', meta: {} });
    await store.init();
    expect(await readdir(join(dir, 'objects', 'tmp'))).toHaveLength(0);
    expect(await store.sweepOrphans(Date.now() + 1000)).toBe(1);
    expect(await text(await store.read(await store.head(ref('kept'))))).toBe('kept');
  });

  it('accepts names with "..", slashes and 1 KiB of UTF-8 without touching paths, and refuses NUL and 2 KiB', async () => {
    const names = ['../../etc/passwd', '..', 'a/../../b', 'é'.repeat(512)];
    for (const n of names)
      await store.putObject(ref(checkObjectName(n)), chunks(n), { contentType: '', meta: {} });
    for (const n of names) expect(await text(await store.read(await store.head(ref(n))))).toBe(n);
    expect(() => checkObjectName('a\0b')).toThrow(/NULL/);
    expect(() => checkObjectName('é'.repeat(1024))).toThrow(/longer than 1024/);
    expect(await dataFiles()).toHaveLength(names.length);
  });

  it('refuses to delete a non-empty container and counts objects per container', async () => {
    await store.putObject(ref('x'), chunks('1'), { contentType: '', meta: {} });
    await expect(store.deleteContainer(A, 'c')).rejects.toMatchObject({ code: 'BucketNotEmpty' });
    await store.deleteObject(ref('x'));
    await store.deleteContainer(A, 'c');
    await expect(store.container(A, 'c')).rejects.toMatchObject({ code: 'NoSuchBucket' });
  });

  it('commits concurrent writes in groups and keeps the counters exact', async () => {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.putObject(ref(`o${i % 10}`), chunks('x'.repeat(i)), { contentType: '', meta: {} }),
      ),
    );
    const listing = await store.listObjects(A, 'c', { limit: 100 });
    const total = listing.entries.reduce((n, e) => n + (e.kind === 'item' ? e.item.size : 0), 0);
    expect(await store.container(A, 'c')).toMatchObject({ objectCount: 10, bytesUsed: total });
  });

  it('fails only the write whose container is missing when several commit together', async () => {
    const results = await Promise.allSettled([
      store.putObject(ref('ok1'), chunks('1'), { contentType: '', meta: {} }),
      store.putObject({ account: A, container: 'nope', name: 'x' }, chunks('2'), {
        contentType: '',
        meta: {},
      }),
      store.putObject(ref('ok2'), chunks('3'), { contentType: '', meta: {} }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('assembles multipart uploads from parts with the S3 composite etag', async () => {
    const up = await store.createUpload(ref('mp'), 'text/plain', {});
    const p1 = await store.uploadPart(ref('mp'), up.uploadId, 1, chunks('hello '), {});
    const p2 = await store.uploadPart(ref('mp'), up.uploadId, 2, chunks('world'), {});
    await store.uploadPart(ref('mp'), up.uploadId, 3, chunks('unused'), {});
    const rec = await store.completeUpload(ref('mp'), up.uploadId, [
      { partNumber: 1, etag: `"${p1.etag}"` },
      { partNumber: 2, etag: p2.etag },
    ]);
    const expected = createHash('md5')
      .update(Buffer.concat([Buffer.from(p1.etag, 'hex'), Buffer.from(p2.etag, 'hex')]))
      .digest('hex');
    expect(rec.etag).toBe(`${expected}-2`);
    const view = await store.head(ref('mp'));
    expect(await text(await store.read(view))).toBe('hello world');
    expect(await text(await store.read(view, { start: 4, end: 7 }))).toBe('o wo');
    await store.drain();
    expect(await dataFiles()).toHaveLength(2);
    await store.deleteObject(ref('mp'));
    await store.drain();
    expect(await dataFiles()).toHaveLength(0);
  });

  it('serves a static large object from its segments and refuses a manifest with a wrong etag', async () => {
    const s1 = await store.putObject(ref('seg/1'), chunks('abc'), { contentType: '', meta: {} });
    await store.putObject(ref('seg/2'), chunks('def'), { contentType: '', meta: {} });
    await expect(
      store.putSloManifest(ref('big'), [{ path: '/c/seg/1', etag: md5('zzz') }], {
        contentType: '',
        meta: {},
      }),
    ).rejects.toMatchObject({ code: 'InvalidManifest' });
    const rec = await store.putSloManifest(
      ref('big'),
      [
        { path: '/c/seg/1', etag: s1.etag, size_bytes: 3 },
        { path: '/c/seg/2', etag: null, size_bytes: null },
      ],
      { contentType: '', meta: {} },
    );
    expect(rec.size).toBe(6);
    expect(rec.etag).toBe(md5(md5('abc') + md5('def')));
    expect(await text(await store.read(await store.head(ref('big')), { start: 2, end: 4 }))).toBe('cde');
  });
});
