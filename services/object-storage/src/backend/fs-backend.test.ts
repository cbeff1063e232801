import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { openDatabase, type DataSource } from '@strato/db';
import { objectStorageMigrations } from '../store/migrations';
import { SqliteDatabase } from '../store/sql';
import { FsDataBackend } from './fs-backend';

async function* chunks(...parts: Buffer[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

/** A writable that keeps what it is given, flushing each write asynchronously. */
function collector(): { out: Writable; bytes: () => Buffer } {
  const got: Buffer[] = [];
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, done) {
      got.push(Buffer.from(chunk));
      setImmediate(done);
    },
  });
  return { out, bytes: () => Buffer.concat(got) };
}

describe('FsDataBackend (fsync on)', () => {
  let dir: string;
  let backend: FsDataBackend;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-fs-'));
    backend = new FsDataBackend({ root: dir, fsync: true });
    await backend.init();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes a small item in one go and reads it back by its known size', async () => {
    const body = randomBytes(4096);
    const { dataId, size } = await backend.write(chunks(body.subarray(0, 1000), body.subarray(1000)));
    expect(size).toBe(4096);
    expect((await backend.readSmall(dataId, 4096)).equals(body)).toBe(true);
    await expect(backend.readSmall(dataId, 5000)).rejects.toThrow(/shorter/);
    await expect(backend.readSmall('0'.repeat(32), 1)).rejects.toMatchObject({ kind: 'NotFound' });
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('sends a range of a large item through pooled buffers with backpressure', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 123);
    const { dataId } = await backend.write(chunks(body.subarray(0, 700_000), body.subarray(700_000)));
    const reader = await backend.open(dataId);
    expect(reader.size).toBe(body.length);
    const { out, bytes } = collector();
    await reader.sendTo!(out, 5, body.length - 2);
    expect(bytes().equals(body.subarray(5, body.length - 1))).toBe(true);
  });

  it('stops sending when the receiver goes away', async () => {
    const body = randomBytes(4 * 1024 * 1024);
    const { dataId } = await backend.write(chunks(body));
    const reader = await backend.open(dataId);
    const { out } = collector();
    out.once('drain', () => out.destroy());
    await expect(reader.sendTo!(out, 0, body.length - 1)).rejects.toMatchObject({
      code: 'ERR_STREAM_PREMATURE_CLOSE',
    });
  });

  it('leaves nothing behind when the source fails', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield randomBytes(2 * 1024 * 1024);
      throw new Error('client went away');
    }
    await expect(backend.write(failing())).rejects.toThrow('client went away');
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('writes a large item across many batches in order', async () => {
    const body = randomBytes(40 * 1024 * 1024 + 5);
    const parts = Array.from({ length: Math.ceil(body.length / 65_536) }, (_, i) =>
      body.subarray(i * 65_536, (i + 1) * 65_536),
    );
    const { dataId, size } = await backend.write(chunks(...parts));
    expect(size).toBe(body.length);
    const { out, bytes } = collector();
    await (
      await backend.open(dataId)
    ).sendTo!(out, 0, body.length - 1);
    expect(bytes().equals(body)).toBe(true);
  });

  it('makes an item readable only after verify resolves, and leaves nothing when it rejects', async () => {
    for (const body of [randomBytes(3000), randomBytes(3 * 1024 * 1024)]) {
      let dataDirFiles = -1;
      const { dataId } = await backend.write(chunks(body), {
        verify: async () => {
          await new Promise((r) => setTimeout(r, 20));
          const shards = await readdir(join(dir, 'data'));
          const files = await Promise.all(shards.map((s) => readdir(join(dir, 'data', s))));
          dataDirFiles = files.flat().length;
        },
      });
      expect(dataDirFiles).toBe(0);
      await backend.remove([dataId]);
      await expect(
        backend.write(chunks(body), { verify: () => Promise.reject(new Error('bad digest')) }),
      ).rejects.toThrow('bad digest');
      expect(await readdir(join(dir, 'tmp'))).toEqual([]);
      const shards = await readdir(join(dir, 'data'));
      const files = await Promise.all(shards.map((s) => readdir(join(dir, 'data', s))));
      expect(files.flat()).toEqual([]);
    }
  });
});

describe('SqliteDatabase with durable commits', () => {
  let dir: string;
  let ds: DataSource;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os-sql-'));
    ds = await openDatabase({
      url: undefined,
      dataDir: dir,
      schema: 'object_storage',
      entities: [],
      migrations: objectStorageMigrations,
    });
  });
  afterEach(async () => {
    await ds.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves concurrent transactions once the log is synced, and rolls back failures', async () => {
    const db = SqliteDatabase.fromDataSource(ds, { durable: true });
    const insert = (account: string) =>
      db.transaction((tx) =>
        tx.run(
          `INSERT INTO {os_accounts} (account, container_count, object_count, bytes_used, created_at, meta) VALUES (?, 0, 0, 0, 0, '{}')`,
          [account],
        ),
      );
    expect(await Promise.all(Array.from({ length: 20 }, (_, i) => insert(`AUTH_${i}`)))).toEqual(
      Array(20).fill(1),
    );
    // (the native SqliteError is not an Error of jest's realm: compare its text)
    const dup = await insert('AUTH_3').then(
      () => 'committed',
      (err: unknown) => String(err),
    );
    expect(dup).toMatch(/UNIQUE constraint failed/);
    const rows = await db.all('SELECT COUNT(*) AS n FROM {os_accounts}');
    expect(Number(rows[0]!.n)).toBe(20);
    await db.close();
  });
});
