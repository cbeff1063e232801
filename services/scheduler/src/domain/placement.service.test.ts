import { openDatabase, type DataSource } from '@strato/db';
import { MemoryCache } from '@strato/cache';
import { heartbeatKey } from '@strato/contracts';
import { createLogger } from '@strato/log';
import { filtersByName } from '../filters';
import { DEFAULT_FILTERS } from '../filters';
import { PlacementRepository, schedulerEntities, schedulerMigrations } from '../store';
import { hostReportFor, scheduleRequest } from '../testing/fixtures';
import { weighersFor } from '../weighers';
import { HostStateReader } from './host-state.reader';
import { PlacementView } from './placement-view';
import { HostsService } from './hosts.service';
import {
  NO_VALID_HOST,
  PlacementService,
  type BuildRequest,
  type HostSource,
  type ScheduleRequest,
  type StateChanged,
} from './placement.service';

const log = createLogger('placement-test', { level: 'silent' });

class RecordingOutbox {
  builds: { host: string; request: BuildRequest }[] = [];
  deletes: { host: string; instanceId: string }[] = [];
  events: StateChanged[] = [];
  reschedules: ScheduleRequest[] = [];
  failBuilds = false;
  async build(host: string, request: BuildRequest) {
    if (this.failBuilds) throw new Error('broker down');
    this.builds.push({ host, request });
  }
  async deleteOn(host: string, instanceId: string) {
    this.deletes.push({ host, instanceId });
  }
  async stateChanged(event: StateChanged) {
    this.events.push(event);
  }
  async reschedule(request: ScheduleRequest) {
    this.reschedules.push(request);
  }
}

describe('PlacementService', () => {
  let ds: DataSource;
  let repo: PlacementRepository;
  let cache: MemoryCache;
  let outbox: RecordingOutbox;
  let placement: PlacementService;
  let hosts: HostsService;

  const beat = (host: string) =>
    cache.set(
      heartbeatKey(host),
      JSON.stringify({ host, at: new Date().toISOString(), cpu_load: 0, running_vms: 0 }),
      60,
    );

  async function addHost(host: string, capacity: Parameters<typeof hostReportFor>[1] = {}) {
    await hosts.report(hostReportFor(host, capacity));
    await beat(host);
  }

  beforeEach(async () => {
    ds = await openDatabase({
      url: 'sqlite::memory:',
      dataDir: '/tmp',
      schema: 'scheduler',
      entities: schedulerEntities,
      migrations: schedulerMigrations,
    });
    repo = new PlacementRepository(ds);
    cache = new MemoryCache();
    outbox = new RecordingOutbox();
    const reader = new HostStateReader({ providers: repo, cache });
    hosts = new HostsService({ store: repo, hosts: reader, log });
    placement = placementOn(reader);
  });
  afterEach(() => ds.destroy());

  /** The service under test, ranking the hosts `source` gives. */
  const placementOn = (source: HostSource) =>
    new PlacementService({
      store: repo,
      hosts: source,
      filters: filtersByName(DEFAULT_FILTERS),
      weighers: weighersFor('spread'),
      outbox,
      log,
      maxAttempts: 3,
      hostSubsetSize: 1,
    });

  it('claims the best host and sends it the build', async () => {
    await addHost('node1', { ramMb: 4096 });
    await addHost('node2', { ramMb: 8192 });
    const request = scheduleRequest({ key_name: 'mykey' });
    expect(await placement.schedule(request)).toEqual({ outcome: 'placed', host: 'node2' });
    expect(outbox.builds).toEqual([
      {
        host: 'node2',
        request: expect.objectContaining({
          instance_id: request.instance_id,
          host: 'node2',
          attempt: 1,
          key_name: 'mykey',
        }),
      },
    ]);
    expect(await repo.allocationsOf(request.instance_id)).toHaveLength(3);
  });

  it('puts the instance in ERROR with "No valid host was found." and the filter that removed the last host', async () => {
    await addHost('node1', { ramMb: 256 });
    const request = scheduleRequest();
    const outcome = await placement.schedule(request);
    expect(outcome).toEqual({ outcome: 'no-valid-host', reason: 'RamFilter removed 1 of 1' });
    expect(outbox.events).toEqual([
      expect.objectContaining({
        instance_id: request.instance_id,
        vm_state: 'error',
        host: null,
        fault: { code: 500, message: NO_VALID_HOST, details: 'RamFilter removed 1 of 1' },
      }),
    ]);
    expect(outbox.events[0]!.fault!.message.startsWith('No valid host was found.')).toBe(true);
  });

  it('skips hosts whose heartbeat expired', async () => {
    await addHost('node1');
    await cache.del(heartbeatKey('node1'));
    expect(await placement.schedule(scheduleRequest())).toMatchObject({
      outcome: 'no-valid-host',
      reason: 'ComputeFilter removed 1 of 1',
    });
  });

  it('skips a host forced down (os-services forced_down) though it heartbeats, and lists it down', async () => {
    await addHost('node1');
    expect((await hosts.setForcedDown('node1', true)).state).toBe('down');
    expect(await placement.schedule(scheduleRequest())).toMatchObject({
      outcome: 'no-valid-host',
      reason: 'ComputeFilter removed 1 of 1',
    });
    const [listed] = await hosts.list();
    expect(listed).toMatchObject({ host: 'node1', forced_down: true, state: 'down' });
    expect(await hosts.setForcedDown('node1', false)).toMatchObject({ forced_down: false, state: 'up' });
    expect(await placement.schedule(scheduleRequest())).toMatchObject({ outcome: 'placed', host: 'node1' });
    await expect(hosts.setForcedDown('nowhere', true)).rejects.toMatchObject({ kind: 'NotFound' });
  });

  it('re-sends the build, without a second claim, when the request is delivered again', async () => {
    await addHost('node1');
    const request = scheduleRequest();
    await placement.schedule(request);
    await placement.schedule(request);
    expect(outbox.builds.map((b) => b.host)).toEqual(['node1', 'node1']);
    const [snapshot] = await repo.snapshot();
    expect(snapshot!.inventory.MEMORY_MB!.used).toBe(512);
  });

  it('gives the claim back when the build cannot be sent, so the redelivery starts clean', async () => {
    await addHost('node1');
    outbox.failBuilds = true;
    const request = scheduleRequest();
    await expect(placement.schedule(request)).rejects.toThrow('broker down');
    expect(await repo.allocationsOf(request.instance_id)).toEqual([]);
    outbox.failBuilds = false;
    expect(await placement.schedule(request)).toEqual({ outcome: 'placed', host: 'node1' });
  });

  it('reschedules a failed build to another host, excluding the failed one', async () => {
    await addHost('node1', { ramMb: 16384 });
    await addHost('node2');
    const request = scheduleRequest();
    await placement.schedule(request);
    await placement.buildFailed({
      instance_id: request.instance_id,
      host: 'node1',
      attempt: 1,
      reason: 'disk full',
    });
    expect(await repo.allocationsOf(request.instance_id)).toEqual([]);
    expect(outbox.events.at(-1)).toMatchObject({
      vm_state: 'building',
      task_state: 'scheduling',
      attempt: 2,
    });
    const next = outbox.reschedules[0]!;
    expect(next).toMatchObject({ attempt: 2, excluded_hosts: ['node1'] });
    expect(await placement.schedule(next)).toEqual({ outcome: 'placed', host: 'node2' });
  });

  it('gives up after MAX_ATTEMPTS builds with a max-retries fault', async () => {
    for (const h of ['node1', 'node2', 'node3', 'node4']) await addHost(h);
    let request = scheduleRequest();
    for (let attempt = 1; attempt <= 3; attempt++) {
      const placed = await placement.schedule(request);
      if (placed.outcome !== 'placed') throw new Error(`attempt ${attempt} not placed`);
      await placement.buildFailed({
        instance_id: request.instance_id,
        host: placed.host,
        attempt,
        reason: 'boom',
      });
      request = outbox.reschedules.at(-1) ?? request;
    }
    expect(outbox.reschedules).toHaveLength(2);
    expect(outbox.events.at(-1)).toMatchObject({
      vm_state: 'error',
      fault: { message: expect.stringContaining('Exceeded maximum number of retries') },
    });
  });

  it('fails over builds on a host that stopped heartbeating', async () => {
    await addHost('node1', { ramMb: 16384 });
    await addHost('node2');
    const request = scheduleRequest();
    await placement.schedule(request);
    await cache.del(heartbeatKey('node1'));
    expect(await placement.sweepSilentHosts()).toBe(1);
    expect(outbox.reschedules[0]).toMatchObject({
      instance_id: request.instance_id,
      excluded_hosts: ['node1'],
    });
    expect(await placement.sweepSilentHosts()).toBe(0);
  });

  it('on release, frees the allocations and asks the host to delete the guest', async () => {
    await addHost('node1');
    const request = scheduleRequest();
    await placement.schedule(request);
    await placement.release(request.instance_id);
    expect(await repo.allocationsOf(request.instance_id)).toEqual([]);
    expect(outbox.deletes).toEqual([{ host: 'node1', instanceId: request.instance_id }]);
    expect(await placement.schedule(request)).toMatchObject({ outcome: 'dropped' });
  });

  it('frees allocations when the agent reports the guest deleted', async () => {
    await addHost('node1');
    const request = scheduleRequest();
    await placement.schedule(request);
    await placement.stateChanged({
      instance_id: request.instance_id,
      host: 'node1',
      attempt: null,
      vm_state: 'deleted',
      task_state: null,
      power_state: 0,
      fault: null,
      occurred_at: new Date().toISOString(),
    });
    expect(await repo.allocationsOf(request.instance_id)).toEqual([]);
  });

  it('places anti-affinity members on distinct hosts and affinity members together', async () => {
    for (const h of ['node1', 'node2', 'node3']) await addHost(h);
    const anti = { id: 'anti', policy: 'anti-affinity' as const, hosts: [] };
    const placedAnti = [];
    for (let i = 0; i < 3; i++)
      placedAnti.push(await placement.schedule(scheduleRequest({ server_group: anti })));
    expect(new Set(placedAnti.map((p) => (p.outcome === 'placed' ? p.host : p.outcome))).size).toBe(3);
    expect(await placement.schedule(scheduleRequest({ server_group: anti }))).toMatchObject({
      outcome: 'no-valid-host',
    });

    const aff = { id: 'aff', policy: 'affinity' as const, hosts: [] };
    const placedAff = [];
    for (let i = 0; i < 3; i++)
      placedAff.push(await placement.schedule(scheduleRequest({ server_group: aff })));
    expect(new Set(placedAff.map((p) => (p.outcome === 'placed' ? p.host : p.outcome))).size).toBe(1);
  });

  describe('on a snapshot of the hosts (PlacementView)', () => {
    let view: PlacementView;
    let reads: number;

    beforeEach(() => {
      const reader = new HostStateReader({ providers: repo, cache });
      reads = 0;
      view = new PlacementView({
        reader: {
          hosts: () => {
            reads++;
            return reader.hosts();
          },
          heartbeats: () => reader.heartbeats(),
        },
        maxAgeMs: 60_000,
      });
      placement = placementOn(view);
    });

    it('reads the hosts once for many requests and counts its own claims, so it still spreads', async () => {
      await addHost('node1');
      await addHost('node2');
      const placed = [];
      for (let i = 0; i < 4; i++) placed.push(await placement.schedule(scheduleRequest()));
      expect(reads).toBe(1);
      const hostsUsed = placed.map((p) => (p.outcome === 'placed' ? p.host : p.outcome));
      expect(hostsUsed.filter((h) => h === 'node1')).toHaveLength(2);
      expect(hostsUsed.filter((h) => h === 'node2')).toHaveLength(2);
    });

    it('asks the store before "No valid host" when the snapshot shows no room', async () => {
      await addHost('node1', { ramMb: 256 });
      await view.hosts(); // the snapshot: too little RAM for the 512 MB flavor
      await hosts.report(hostReportFor('node1', { ramMb: 8192 }));
      expect(await placement.schedule(scheduleRequest())).toEqual({ outcome: 'placed', host: 'node1' });
      expect(reads).toBe(2);
    });

    it('a claim the snapshot got wrong fails in the store, and a fresh view decides', async () => {
      await addHost('node1', { ramMb: 1024 });
      await view.hosts(); // the snapshot: room for two 512 MB servers
      // Another scheduler takes all of it meanwhile.
      const other = scheduleRequest({ flavor: { ...scheduleRequest().flavor, ram_mb: 1024 } });
      await repo.admit({
        instanceId: other.instance_id,
        attempt: 1,
        serverGroupId: null,
        excludedHosts: [],
        body: JSON.stringify(other),
      });
      expect(
        await repo.claim({
          instanceId: other.instance_id,
          attempt: 1,
          host: 'node1',
          resources: { VCPU: 1, MEMORY_MB: 1024, DISK_GB: 1 },
          group: null,
        }),
      ).toEqual({ ok: true });
      expect(await placement.schedule(scheduleRequest())).toEqual({
        outcome: 'no-valid-host',
        reason: 'RamFilter removed 1 of 1',
      });
      expect(reads).toBe(2);
    });
  });
});
