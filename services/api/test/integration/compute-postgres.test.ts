/**
 * The compute API on PostgreSQL: the migration (schema 'compute', seeded flavors), a boot to
 * ACTIVE and back, and the quota under concurrency — racing boots never pass the limit.
 */
import {
  IMAGE_ID,
  eventually,
  startComputeHarness,
  type ComputeHarness,
} from '../../src/compute/testing/harness';
import { scratchDatabase } from '../support/external';

jest.setTimeout(60_000);

let h: ComputeHarness;
let db: Awaited<ReturnType<typeof scratchDatabase>>;

beforeAll(async () => {
  db = await scratchDatabase();
  h = await startComputeHarness({ databaseUrl: db.url });
});

afterAll(async () => {
  await h?.close();
  await db?.drop();
});

async function api(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${h.url}${path}`, {
    method,
    headers: { 'X-Auth-Token': token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies are read freely in tests
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : null };
}

describe('compute API on PostgreSQL', () => {
  it('keeps its tables in the compute schema with the seeded flavors', async () => {
    const rows = await h.compute.db.query<{ table_name: string }[]>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'compute' ORDER BY table_name",
    );
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['flavors', 'instances', 'keypairs', 'outbox', 'quotas', 'server_groups']),
    );
    const flavors = await api(h.tokens.alice, 'GET', '/flavors/detail');
    expect(flavors.body!.flavors).toHaveLength(5);
    expect(flavors.body!.flavors[0]).toMatchObject({
      id: '1',
      'os-flavor-access:is_public': true,
      rxtx_factor: 1,
    });
  });

  it('boots, stops and deletes a server', async () => {
    const res = await api(h.tokens.alice, 'POST', '/servers', {
      server: { name: 'pg-vm', imageRef: IMAGE_ID, flavorRef: '1', metadata: { a: 'b' } },
    });
    expect(res.status).toBe(202);
    const id = res.body!.server.id as string;
    const show = () => api(h.tokens.alice, 'GET', `/servers/${id}`);
    await eventually(show, (r) => r.body?.server?.status === 'ACTIVE', 'ACTIVE');
    // Written by the admission's one-statement insert (instances and outbox together).
    const shown = (await show()).body!.server;
    expect(shown.metadata).toEqual({ a: 'b' });
    expect(shown.flavor).toMatchObject({ id: '1' });
    expect((await api(h.tokens.alice, 'POST', `/servers/${id}/action`, { 'os-stop': null })).status).toBe(
      202,
    );
    await eventually(show, (r) => r.body?.server?.status === 'SHUTOFF', 'SHUTOFF');
    expect((await api(h.tokens.alice, 'DELETE', `/servers/${id}`)).status).toBe(204);
    await eventually(show, (r) => r.status === 404, 'deleted');
  });

  it('stores names and metadata with quotes, backslashes and SQL in them exactly as sent', async () => {
    const name = `it's a \\ "vm" <x/> &amp; '); DROP TABLE instances; --`;
    // Keys are Nova's (letters, digits, -_:. and space); the values carry the quotes and SQL.
    const metadata = { 'o k:1.x_y-z': "E'\\x41", json: '{"a": [1]}', sql: "'); DELETE FROM instances; --" };
    const res = await api(h.tokens.alice, 'POST', '/servers', {
      server: { name, imageRef: IMAGE_ID, flavorRef: '1', metadata },
    });
    expect(res.status).toBe(202);
    const shown = (await api(h.tokens.alice, 'GET', `/servers/${res.body!.server.id as string}`)).body!
      .server;
    expect(shown.name).toBe(name);
    expect(shown.metadata).toEqual(metadata);
    await api(h.tokens.alice, 'DELETE', `/servers/${res.body!.server.id as string}`);
  });

  it('never lets racing boots pass the instances quota', async () => {
    await api(h.tokens.admin, 'PUT', `/os-quota-sets/${h.projects.bob}`, { quota_set: { instances: 3 } });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        api(h.tokens.bob, 'POST', '/servers', {
          server: { name: `race-${i}`, imageRef: IMAGE_ID, flavorRef: '1' },
        }),
      ),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(3);
    expect(results.filter((r) => r.status === 403)).toHaveLength(9);
    const limits = await api(h.tokens.bob, 'GET', '/limits');
    expect(limits.body!.limits.absolute.totalInstancesUsed).toBe(3);
  });

  it('admits by the quota guard what the read-first admission would, and refuses with its messages', async () => {
    // Boots are written first and checked after; these are the cases where the check says no.
    const { admin } = h.tokens;
    const project = h.projects.admin;
    const boot = (server: Record<string, unknown>) =>
      api(admin, 'POST', '/servers', {
        server: { name: 'g', imageRef: IMAGE_ID, flavorRef: '1', ...server },
      });
    const used = async () =>
      (await api(admin, 'GET', '/limits')).body!.limits.absolute.totalInstancesUsed as number;
    const admitted = async (way: string) => {
      const metric = await h.compute.metrics.getSingleMetric('strato_compute_admissions_total')!.get();
      return metric.values.find((v) => v.labels.way === way)?.value ?? 0;
    };
    const ids: string[] = [];
    try {
      await api(admin, 'PUT', `/os-quota-sets/${project}`, {
        quota_set: { instances: 4, metadata_items: 2 },
      });
      const [oneTrip, readFirst] = [await admitted('one-trip'), await admitted('read-first')];
      const first = await boot({ metadata: { a: '1', b: '2' } });
      expect(first.status).toBe(202);
      ids.push(first.body!.server.id as string);
      // Within the limits: written and checked in one trip, not read first.
      expect([await admitted('one-trip'), await admitted('read-first')]).toEqual([oneTrip + 1, readFirst]);
      const tooMuchMetadata = await boot({ metadata: { a: '1', b: '2', c: '3' } });
      expect(tooMuchMetadata.status).toBe(403);
      expect(tooMuchMetadata.body!.forbidden.message).toMatch(/^Quota exceeded for metadata_items/);
      expect(await admitted('one-trip')).toBe(oneTrip + 1); // the guard refused; read first, then refused
      // max_count 5 with room for 3: three are made (as many as fit), none past the limit.
      const many = await boot({ min_count: 1, max_count: 5, return_reservation_id: true });
      expect(many.status).toBe(202);
      expect(await used()).toBe(4);
      const over = await boot({});
      expect(over.status).toBe(403);
      expect(over.body!.forbidden.message).toBe(
        'Quota exceeded for instances: Requested 1, but already used 4 of 4 instances',
      );
      await api(admin, 'PUT', `/os-quota-sets/${project}`, { quota_set: { instances: 10, ram: 2048 } });
      // 4 x 512 MB of m1.tiny in use: an m1.small (2048 MB) does not fit in 2048.
      const ram = await boot({ flavorRef: '2' });
      expect(ram.status).toBe(403);
      expect(ram.body!.forbidden.message).toMatch(/^Quota exceeded for ram/);
      expect(await used()).toBe(4);
    } finally {
      const mine = (await api(admin, 'GET', '/servers')).body!.servers as { id: string }[];
      for (const s of mine) await api(admin, 'DELETE', `/servers/${s.id}`);
      await api(admin, 'DELETE', `/os-quota-sets/${project}`);
    }
    expect(ids).toHaveLength(1);
  });
});
