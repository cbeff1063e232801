/**
 * Claims racing on PostgreSQL: 200 schedule requests at once against 4 hosts whose
 * inventories fit exactly 150 of the flavor. Exactly 150 are placed, 50 get "No valid host",
 * and no host holds more than its inventory allows.
 * Needs PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { randomBytes } from 'node:crypto';
import { MemoryCache } from '@strato/cache';
import { heartbeatKey } from '@strato/contracts';
import { openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import { DEFAULT_FILTERS, filtersByName } from '../../src/filters';
import { HostStateReader } from '../../src/domain/host-state.reader';
import { HostsService } from '../../src/domain/hosts.service';
import { PlacementView } from '../../src/domain/placement-view';
import { PlacementService, type SchedulerOutbox } from '../../src/domain/placement.service';
import { PlacementRepository, schedulerEntities, schedulerMigrations } from '../../src/store';
import { hostReportFor, scheduleRequest } from '../../src/testing/fixtures';
import { weighersFor } from '../../src/weighers';

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const log = createLogger('claims-race', { level: 'silent' });
const schema = `sched_test_${randomBytes(4).toString('hex')}`;

describe('claims racing on PostgreSQL', () => {
  let ds: DataSource;

  beforeAll(async () => {
    ds = await openDatabase({
      url: URL,
      dataDir: '/tmp',
      schema,
      entities: schedulerEntities,
      migrations: schedulerMigrations,
    });
  });
  afterAll(async () => {
    await ds.query(`DROP SCHEMA "${schema}" CASCADE`);
    await ds.destroy();
  });

  it.each([
    ['read from the store for each request', 0],
    ['ranked on a snapshot (PlacementView, as deployed)', 1000],
  ])(
    'places exactly as many as the inventories fit, never more on any host: %s',
    async (_, viewMs) => {
      await ds.query('TRUNCATE allocations, scheduling_requests, inventories, resource_providers CASCADE');
      const repo = new PlacementRepository(ds);
      const cache = new MemoryCache();
      const reader = new HostStateReader({ providers: repo, cache });
      const hosts = new HostsService({ store: repo, hosts: reader, log });
      // 512 MB per instance: 40 + 40 + 35 + 35 = 150 instances fit.
      const capacities = { node1: 40, node2: 40, node3: 35, node4: 35 };
      for (const [host, n] of Object.entries(capacities)) {
        await hosts.report(hostReportFor(host, { ramMb: n * 512, vcpus: 1000, diskGb: 1000 }));
        await cache.set(
          heartbeatKey(host),
          JSON.stringify({ host, at: new Date().toISOString(), cpu_load: 0, running_vms: 0 }),
          600,
        );
      }
      const builds: string[] = [];
      const errors: string[] = [];
      const outbox: SchedulerOutbox = {
        build: async (host) => void builds.push(host),
        deleteOn: async () => undefined,
        stateChanged: async (e) => void (e.vm_state === 'error' && errors.push(e.fault!.message)),
        reschedule: async () => undefined,
      };
      const generations = async () =>
        (await ds.query<{ g: string }[]>('SELECT SUM(generation) AS g FROM resource_providers'))[0]!.g;
      const generationsBefore = Number(await generations());
      const placement = new PlacementService({
        store: repo,
        hosts: viewMs > 0 ? new PlacementView({ reader, maxAgeMs: viewMs }) : reader,
        filters: filtersByName(DEFAULT_FILTERS),
        weighers: weighersFor('spread'),
        outbox,
        log,
        maxAttempts: 3,
        hostSubsetSize: 2,
      });

      const outcomes = await Promise.all(
        Array.from({ length: 200 }, () => placement.schedule(scheduleRequest())),
      );

      const placed = outcomes.filter((o) => o.outcome === 'placed');
      expect(placed).toHaveLength(150);
      expect(outcomes.filter((o) => o.outcome === 'no-valid-host')).toHaveLength(50);
      expect(errors).toHaveLength(50);
      expect(errors.every((m) => m.startsWith('No valid host was found.'))).toBe(true);
      expect(builds).toHaveLength(150);
      for (const p of await repo.snapshot()) {
        const ram = p.inventory.MEMORY_MB!;
        expect(ram.used).toBeLessThanOrEqual(ram.total);
        expect(p.instanceCount).toBe(capacities[p.row.host as keyof typeof capacities]);
      }
      // Each claim marked its request building on its host and bumped its provider's generation.
      const statuses = await ds.query<{ status: string; n: string }[]>(
        'SELECT status, COUNT(*) AS n FROM scheduling_requests GROUP BY status ORDER BY status',
      );
      expect(statuses.map((r) => [r.status, Number(r.n)])).toEqual([
        ['building', 150],
        ['error', 50],
      ]);
      expect(Number(await generations()) - generationsBefore).toBe(150);

      // The agent reports it running: building → active once, on that host only.
      const first = placed[0]!;
      const [row] = await ds.query<{ instance_id: string; host: string }[]>(
        "SELECT instance_id, host FROM scheduling_requests WHERE status = 'building' AND host = $1 LIMIT 1",
        [first.host],
      );
      expect(await repo.markBuilt(row!.instance_id, 'elsewhere', 1)).toMatchObject({ status: 'building' });
      expect(await repo.markBuilt(row!.instance_id, row!.host, 1)).toMatchObject({
        instance_id: row!.instance_id,
        status: 'active',
        attempt: 1,
      });
      expect(await repo.markBuilt(row!.instance_id, row!.host, 1)).toMatchObject({ status: 'active' });
    },
    60_000,
  );

  it('records and claims a first request in one round trip; redeliveries and deleted instances are decided as before', async () => {
    await ds.query('TRUNCATE allocations, scheduling_requests, inventories, resource_providers CASCADE');
    const repo = new PlacementRepository(ds);
    expect(repo.claimAdmits).toBe(true);
    const cache = new MemoryCache();
    const reader = new HostStateReader({ providers: repo, cache });
    const hosts = new HostsService({ store: repo, hosts: reader, log });
    // Room for one 512 MB instance.
    await hosts.report(hostReportFor('node1', { ramMb: 512, vcpus: 100, diskGb: 100 }));
    await cache.set(
      heartbeatKey('node1'),
      JSON.stringify({ host: 'node1', at: new Date().toISOString(), cpu_load: 0, running_vms: 0 }),
      600,
    );
    const builds: string[] = [];
    const errors: string[] = [];
    const placement = new PlacementService({
      store: repo,
      hosts: reader,
      filters: filtersByName(DEFAULT_FILTERS),
      weighers: weighersFor('spread'),
      outbox: {
        build: async (host) => void builds.push(host),
        deleteOn: async () => undefined,
        stateChanged: async (e) => void (e.vm_state === 'error' && errors.push(e.fault!.message)),
        reschedule: async () => undefined,
      },
      log,
      maxAttempts: 3,
      hostSubsetSize: 1,
    });
    const admit = jest.spyOn(repo, 'admit');
    const requestOf = async (id: string) =>
      (
        await ds.query<{ status: string; host: string | null; attempt: number }[]>(
          'SELECT status, host, attempt FROM scheduling_requests WHERE instance_id = $1',
          [id],
        )
      )[0];

    const first = scheduleRequest();
    expect(await placement.schedule(first)).toEqual({ outcome: 'placed', host: 'node1' });
    expect(admit).not.toHaveBeenCalled();
    expect(await requestOf(first.instance_id)).toEqual({ status: 'building', host: 'node1', attempt: 1 });

    // A redelivery finds the record: admit() decides, and the build is sent again, not claimed twice.
    expect(await placement.schedule(first)).toEqual({ outcome: 'placed', host: 'node1' });
    expect(admit).toHaveBeenCalledTimes(1);
    expect(builds).toEqual(['node1', 'node1']);
    const held = await ds.query<{ n: string }[]>(
      "SELECT COUNT(*) AS n FROM allocations WHERE consumer_id = $1 AND resource_class = 'MEMORY_MB'",
      [first.instance_id],
    );
    expect(Number(held[0]!.n)).toBe(1);

    // Deleted before it was scheduled: the record says so, and nothing is claimed.
    const released = scheduleRequest();
    await repo.release(released.instance_id);
    expect(await placement.schedule(released)).toMatchObject({ outcome: 'dropped' });
    expect(await requestOf(released.instance_id)).toMatchObject({ status: 'deleted' });

    // No room left: nothing ranks, so the usual way records it and fails it with Nova's fault.
    const full = scheduleRequest();
    expect(await placement.schedule(full)).toMatchObject({ outcome: 'no-valid-host' });
    expect(await requestOf(full.instance_id)).toMatchObject({ status: 'error' });
    expect(errors).toEqual([expect.stringMatching(/^No valid host was found\./)]);
    expect(builds).toEqual(['node1', 'node1']);
  });
});
