import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type DataSource } from '@strato/db';
import { newImage, type Image } from '../domain/image';
import type { Caller } from '../domain/image-policy';
import { parseListQuery, type Query } from '../domain/image-query';
import { imageEntities, imageMigrations } from './index';
import { TypeormImageRepository } from './image.repository';

const limits = { tagQuota: 128, propertyQuota: 128 };
const alice: Caller = { projectId: 'alice', isAdmin: false };
const bob: Caller = { projectId: 'bob', isAdmin: false };
const admin: Caller = { projectId: 'ops', isAdmin: true };

describe('TypeormImageRepository (SQLite)', () => {
  let dir: string;
  let db: DataSource;
  let repo: TypeormImageRepository;
  let clock = Date.UTC(2026, 0, 1);

  async function add(owner: string, body: Record<string, unknown>): Promise<Image> {
    clock += 1000;
    const image = newImage(body, { owner, now: new Date(clock) }, limits);
    expect(await repo.insert(image)).toBe(true);
    return image;
  }

  async function names(
    viewer: Caller,
    query: Query = {},
    after: Image | null = null,
  ): Promise<(string | null)[]> {
    const criteria = parseListQuery(query, { defaultLimit: 25, maxLimit: 1000 });
    return (await repo.list(criteria, viewer, after)).map((i) => i.name);
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'image-repo-'));
    db = await openDatabase({
      url: undefined,
      dataDir: dir,
      schema: 'image',
      entities: imageEntities,
      migrations: imageMigrations,
    });
    repo = new TypeormImageRepository(db);
  });

  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores and reads back an image with its tags and properties', async () => {
    const image = await add('alice', { name: 'a', tags: ['x', 'y'], os_distro: 'debian', 'a/b': 'c' });
    const back = await repo.findById(image.id);
    expect(back).toEqual(image);
    expect(await repo.insert(image)).toBe(false);
  });

  it('lists own, public and accepted shared images, but not others private or community ones', async () => {
    await add('alice', { name: 'alice-private', visibility: 'private' });
    await add('bob', { name: 'bob-private', visibility: 'private' });
    await add('bob', { name: 'bob-public', visibility: 'public' });
    await add('bob', { name: 'bob-community', visibility: 'community' });
    const shared = await add('bob', { name: 'bob-shared', visibility: 'shared' });
    await repo.insertMember({
      image_id: shared.id,
      member_id: 'alice',
      status: 'pending',
      created_at: new Date(),
      updated_at: new Date(),
    });

    expect(await names(alice)).toEqual(['bob-public', 'alice-private']);
    expect(await names(alice, { member_status: 'pending' })).toEqual([
      'bob-shared',
      'bob-public',
      'alice-private',
    ]);
    await repo.updateMember({
      image_id: shared.id,
      member_id: 'alice',
      status: 'accepted',
      created_at: new Date(),
      updated_at: new Date(),
    });
    expect(await names(alice)).toEqual(['bob-shared', 'bob-public', 'alice-private']);
    expect(await names(alice, { visibility: 'community' })).toEqual(['bob-community']);
    expect(await names(alice, { visibility: 'private' })).toEqual(['alice-private']);
    expect(await names(bob, { visibility: 'shared' })).toEqual(['bob-shared']);
    expect(await names(admin)).toEqual(['bob-shared', 'bob-public', 'bob-private', 'alice-private']);
    expect(await names(admin, { visibility: 'all' })).toHaveLength(5);
  });

  it('filters on name, status, tags, properties, hidden and size', async () => {
    await add('alice', { name: 'one', tags: ['gpu', 'big'], os_distro: 'debian' });
    await add('alice', { name: 'two', tags: ['gpu'], os_distro: 'fedora' });
    await add('alice', { name: 'three', os_hidden: true });
    expect(await names(alice, { name: 'two' })).toEqual(['two']);
    expect(await names(alice, { name: 'in:one,two' })).toEqual(['two', 'one']);
    expect(await names(alice, { tag: ['gpu', 'big'] })).toEqual(['one']);
    expect(await names(alice, { tag: 'gpu' })).toEqual(['two', 'one']);
    expect(await names(alice, { os_distro: 'fedora' })).toEqual(['two']);
    expect(await names(alice, { os_hidden: 'true' })).toEqual(['three']);
    expect(await names(alice, { status: 'active' })).toEqual([]);
    expect(await names(alice, { size_min: '1' })).toEqual([]);
  });

  it('pages with a marker in any sort order, nulls included, without gaps or repeats', async () => {
    const created: Image[] = [];
    for (const name of ['c', null, 'a', 'b', null, 'a'])
      created.push(await add('alice', name === null ? {} : { name }));
    for (const sort of [
      'name:asc',
      'name:desc',
      'created_at:asc',
      'created_at:desc',
      'name:asc,created_at:desc',
    ]) {
      const whole = await repo.list(
        parseListQuery({ sort }, { defaultLimit: 25, maxLimit: 1000 }),
        alice,
        null,
      );
      const paged: Image[] = [];
      let after: Image | null = null;
      for (;;) {
        const page: Image[] = await repo.list(
          parseListQuery({ sort, limit: '2' }, { defaultLimit: 25, maxLimit: 1000 }),
          alice,
          after,
        );
        paged.push(...page);
        if (page.length < 2) break;
        after = page[page.length - 1]!;
      }
      expect(paged.map((i) => i.id)).toEqual(whole.map((i) => i.id));
      expect(new Set(paged.map((i) => i.id)).size).toBe(created.length);
    }
    const byName = await names(alice, { sort: 'name:asc' });
    expect(byName).toEqual([null, null, 'a', 'a', 'b', 'c']);
  });

  it('changes status only from the expected one', async () => {
    const image = await add('alice', {});
    expect(await repo.transition(image.id, ['active'], 'deactivated', {})).toBe(false);
    expect(await repo.transition(image.id, ['queued'], 'saving', {})).toBe(true);
    expect(
      await repo.transition(image.id, ['saving'], 'active', { size: 5_000_000_000, checksum: 'x' }),
    ).toBe(true);
    expect(await repo.findById(image.id)).toMatchObject({
      status: 'active',
      size: 5_000_000_000,
      checksum: 'x',
    });
  });

  it('deletes an image with its members, tags and properties', async () => {
    const image = await add('alice', { tags: ['t'], k: 'v' });
    await repo.insertMember({
      image_id: image.id,
      member_id: 'bob',
      status: 'pending',
      created_at: new Date(),
      updated_at: new Date(),
    });
    expect(await repo.delete(image.id)).toBe(true);
    expect(await repo.findById(image.id)).toBeNull();
    expect(await repo.findMember(image.id, 'bob')).toBeNull();
    expect(await repo.delete(image.id)).toBe(false);
  });
});
