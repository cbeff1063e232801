/** The service on PostgreSQL (own random schema, dropped afterwards): Swift round trips and counters. */
import { createHash, randomBytes } from 'node:crypto';
import { DataSource } from '@strato/db';
import { startObjectStorage, type Harness } from './harness';

jest.setTimeout(60_000);

const DATABASE_URL = process.env.OBJECT_STORE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('object storage on PostgreSQL', () => {
  const schema = `os_test_${randomBytes(6).toString('hex')}`;
  let h: Harness;

  beforeAll(async () => {
    h = await startObjectStorage({ DATABASE_URL, OBJECT_STORE_DB_SCHEMA: schema });
  });
  afterAll(async () => {
    await h?.stop();
    const ds = new DataSource({ type: 'postgres', url: DATABASE_URL });
    await ds.initialize();
    await ds.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await ds.destroy();
  });

  it('stores, lists in byte order and deletes objects with exact counters under concurrency', async () => {
    const headers = { 'x-auth-token': h.token };
    expect((await fetch(`${h.storageUrl}/pg`, { method: 'PUT', headers })).status).toBe(201);
    const names = ['b', 'a/1', 'a/2', 'Z', 'é', '\u{1F600}', 'a b'];
    const bodies = new Map(names.map((n) => [n, randomBytes(1000 + n.length)]));
    const results = await Promise.all(
      names.map((n) =>
        fetch(`${h.storageUrl}/pg/${encodeURIComponent(n)}`, {
          method: 'PUT',
          headers,
          body: bodies.get(n)!,
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(names.map(() => 201));
    const listing = (await (await fetch(`${h.storageUrl}/pg?format=json`, { headers })).json()) as {
      name: string;
      hash: string;
    }[];
    const byteOrder = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(listing.map((o) => o.name)).toEqual(byteOrder);
    for (const o of listing) expect(o.hash).toBe(md5(bodies.get(o.name)!));
    const folded = (await (
      await fetch(`${h.storageUrl}/pg?format=json&delimiter=/`, { headers })
    ).json()) as {
      name?: string;
      subdir?: string;
    }[];
    expect(folded.map((o) => o.subdir ?? o.name)).toEqual(['Z', 'a b', 'a/', 'b', 'é', '\u{1F600}']);
    const got = await fetch(`${h.storageUrl}/pg/${encodeURIComponent('é')}`, { headers });
    expect(md5(Buffer.from(await got.arrayBuffer()))).toBe(md5(bodies.get('é')!));
    const total = [...bodies.values()].reduce((n, b) => n + b.length, 0);
    const head = await fetch(`${h.storageUrl}/pg`, { method: 'HEAD', headers });
    expect(head.headers.get('x-container-object-count')).toBe(String(names.length));
    expect(head.headers.get('x-container-bytes-used')).toBe(String(total));
    expect((await fetch(`${h.storageUrl}/pg`, { method: 'DELETE', headers })).status).toBe(409);
    for (const n of names) {
      expect(
        (await fetch(`${h.storageUrl}/pg/${encodeURIComponent(n)}`, { method: 'DELETE', headers })).status,
      ).toBe(204);
    }
    expect((await fetch(`${h.storageUrl}/pg`, { method: 'DELETE', headers })).status).toBe(204);
    const account = await fetch(h.storageUrl, { method: 'HEAD', headers });
    expect(account.headers.get('x-account-object-count')).toBe('0');
    expect(account.headers.get('x-account-bytes-used')).toBe('0');
  });
});
