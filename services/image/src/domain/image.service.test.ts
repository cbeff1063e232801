import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import { FsImageDataStore } from '../data/fs-data-store';
import { TypeormImageRepository, imageEntities, imageMigrations } from '../store';
import type { Caller } from './image-policy';
import { parseListQuery } from './image-query';
import { ImageService } from './image.service';

const alice: Caller = { projectId: 'alice', isAdmin: false };
const bob: Caller = { projectId: 'bob', isAdmin: false };
const admin: Caller = { projectId: 'ops', isAdmin: true };
const list = (q: Record<string, string> = {}) => parseListQuery(q, { defaultLimit: 25, maxLimit: 1000 });

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A body that sends `first` and then fails, as a request whose client went away. */
function failingBody(first: Buffer): Readable {
  const body = new PassThrough();
  body.write(first);
  setImmediate(() => body.destroy(new Error('aborted')));
  return body;
}

describe('ImageService', () => {
  let dir: string;
  let db: DataSource;
  let repo: TypeormImageRepository;
  let service: ImageService;

  const dataFiles = () => readdirSync(join(dir, 'blobs')).filter((f) => !f.startsWith('.'));
  const allFiles = () => readdirSync(join(dir, 'blobs'));

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'image-svc-'));
    db = await openDatabase({
      url: undefined,
      dataDir: dir,
      schema: 'image',
      entities: imageEntities,
      migrations: imageMigrations,
    });
    repo = new TypeormImageRepository(db);
    service = new ImageService({
      images: repo,
      data: new FsImageDataStore(join(dir, 'blobs')),
      log: createLogger('test', { level: 'silent' }),
      limits: { sizeCap: 1_000_000, tagQuota: 3, propertyQuota: 10, memberQuota: 2 },
    });
  });

  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uploads data: queued → active with size, md5 and sha512', async () => {
    const image = await service.create(alice, { name: 'a', disk_format: 'raw', container_format: 'bare' });
    expect(image.status).toBe('queued');
    const data = Buffer.alloc(300_000, 7);
    const done = await service.upload(
      alice,
      image.id,
      Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
      data.length,
    );
    expect(done).toMatchObject({
      status: 'active',
      size: data.length,
      virtual_size: data.length,
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
    });
    const download = await service.download(alice, image.id);
    expect(download.data && (await readAll(download.data)).equals(data)).toBe(true);
  });

  it('refuses a second upload with 409', async () => {
    const image = await service.create(alice, {});
    await service.upload(alice, image.id, Readable.from([Buffer.from('x')]));
    await expect(service.upload(alice, image.id, Readable.from([Buffer.from('y')]))).rejects.toMatchObject({
      kind: 'Conflict',
    });
  });

  it('puts the image back to queued and keeps no data when the client goes away', async () => {
    const image = await service.create(alice, {});
    await expect(
      service.upload(alice, image.id, failingBody(Buffer.alloc(1000)), 5000),
    ).rejects.toMatchObject({
      kind: 'Invalid',
    });
    expect((await service.get(alice, image.id)).status).toBe('queued');
    expect(allFiles()).toEqual([]);
    await service.upload(alice, image.id, Readable.from([Buffer.from('again')]));
    expect((await service.get(alice, image.id)).size).toBe(5);
  });

  it('puts the image back to queued when the body is shorter than announced', async () => {
    const image = await service.create(alice, {});
    await expect(
      service.upload(alice, image.id, Readable.from([Buffer.alloc(10)]), 20),
    ).rejects.toMatchObject({
      kind: 'Invalid',
    });
    expect((await service.get(alice, image.id)).status).toBe('queued');
    expect(allFiles()).toEqual([]);
  });

  it('refuses data over the size cap, announced or not', async () => {
    const image = await service.create(alice, {});
    await expect(service.upload(alice, image.id, Readable.from([]), 2_000_000)).rejects.toMatchObject({
      kind: 'PayloadTooLarge',
    });
    const big = Readable.from(Array.from({ length: 20 }, () => Buffer.alloc(100_000)));
    await expect(service.upload(alice, image.id, big)).rejects.toMatchObject({ kind: 'PayloadTooLarge' });
    expect((await service.get(alice, image.id)).status).toBe('queued');
    expect(allFiles()).toEqual([]);
  });

  it('removes the data of an image deleted while its upload was running', async () => {
    const image = await service.create(alice, {});
    const body = new PassThrough();
    const upload = service.upload(alice, image.id, body);
    body.write(Buffer.alloc(100));
    await service.delete(alice, image.id);
    body.end(Buffer.alloc(100));
    await expect(upload).rejects.toMatchObject({ kind: 'NotFound' });
    expect(dataFiles()).toEqual([]);
  });

  it('hides another project’s private image (404) and refuses changes to a public one (403)', async () => {
    const priv = await service.create(alice, { visibility: 'private' });
    await expect(service.get(bob, priv.id)).rejects.toMatchObject({ kind: 'NotFound' });
    await expect(service.delete(bob, priv.id)).rejects.toMatchObject({ kind: 'NotFound' });
    const pub = await service.create(admin, { visibility: 'public' });
    expect((await service.get(bob, pub.id)).id).toBe(pub.id);
    await expect(
      service.update(bob, pub.id, [{ op: 'replace', path: '/name', value: 'x' }]),
    ).rejects.toMatchObject({
      kind: 'Forbidden',
    });
    await expect(service.create(alice, { visibility: 'public' })).rejects.toMatchObject({
      kind: 'Forbidden',
    });
  });

  it('shares an image with a member, who sees it at once and lists it once accepted', async () => {
    const image = await service.create(alice, { name: 'shared-one' });
    await expect(service.get(bob, image.id)).rejects.toMatchObject({ kind: 'NotFound' });
    const member = await service.addMember(alice, image.id, { member: 'bob' });
    expect(member.status).toBe('pending');
    await expect(service.addMember(alice, image.id, { member: 'bob' })).rejects.toMatchObject({
      kind: 'Conflict',
    });
    expect((await service.get(bob, image.id)).id).toBe(image.id);
    expect(await service.list(bob, list())).toEqual([]);
    expect((await service.list(bob, list({ member_status: 'pending' }))).map((i) => i.id)).toEqual([
      image.id,
    ]);
    await expect(service.updateMember(alice, image.id, 'bob', { status: 'accepted' })).rejects.toMatchObject({
      kind: 'Forbidden',
    });
    await service.updateMember(bob, image.id, 'bob', { status: 'accepted' });
    expect((await service.list(bob, list())).map((i) => i.id)).toEqual([image.id]);
    expect((await service.listMembers(bob, image.id)).map((m) => m.member_id)).toEqual(['bob']);
    await expect(service.removeMember(bob, image.id, 'bob')).rejects.toMatchObject({ kind: 'Forbidden' });
    await service.removeMember(alice, image.id, 'bob');
    await expect(service.get(bob, image.id)).rejects.toMatchObject({ kind: 'NotFound' });
  });

  it('gives members only to shared images', async () => {
    const image = await service.create(alice, { visibility: 'private' });
    await expect(service.addMember(alice, image.id, { member: 'bob' })).rejects.toMatchObject({
      kind: 'Forbidden',
    });
  });

  it('protects a protected image from deletion', async () => {
    const image = await service.create(alice, { protected: true });
    await expect(service.delete(alice, image.id)).rejects.toMatchObject({ kind: 'Forbidden' });
    await service.update(alice, image.id, [{ op: 'replace', path: '/protected', value: false }]);
    await service.delete(alice, image.id);
    await expect(service.get(alice, image.id)).rejects.toMatchObject({ kind: 'NotFound' });
  });

  it('adds and removes tags within the quota', async () => {
    const image = await service.create(alice, { tags: ['a'] });
    await service.addTag(alice, image.id, 'b');
    await service.addTag(alice, image.id, 'b');
    await service.addTag(alice, image.id, 'c');
    await expect(service.addTag(alice, image.id, 'd')).rejects.toMatchObject({ kind: 'PayloadTooLarge' });
    await service.removeTag(alice, image.id, 'a');
    expect((await service.get(alice, image.id)).tags).toEqual(['b', 'c']);
    await expect(service.removeTag(alice, image.id, 'a')).rejects.toMatchObject({ kind: 'NotFound' });
  });

  it('serves ranges and says when there is no data yet', async () => {
    const image = await service.create(alice, {});
    expect((await service.download(alice, image.id)).data).toBeNull();
    await service.upload(alice, image.id, Readable.from([Buffer.from('0123456789')]));
    const part = await service.download(alice, image.id, 'bytes=2-4');
    expect(part.data && (await readAll(part.data)).toString()).toBe('234');
    await expect(service.download(alice, image.id, 'bytes=10-')).rejects.toMatchObject({
      kind: 'RangeNotSatisfiable',
    });
  });

  it('refuses a marker the caller cannot see', async () => {
    const image = await service.create(alice, { visibility: 'private' });
    await expect(service.list(bob, list({ marker: image.id }))).rejects.toMatchObject({ kind: 'Invalid' });
  });
});
