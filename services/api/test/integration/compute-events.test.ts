/**
 * Instance state events are applied in batches: events delivered together share one
 * transaction, applied in arrival order, each to what the one before it left; a stale or
 * unknown one changes nothing and fails no other. On SQLite and on PostgreSQL (row locks).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { instanceStateChanged, PayloadOf } from '@strato/contracts';
import { openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import { InstanceEventHandlers } from '../../src/compute/events.handlers';
import type { OutboxRelay } from '../../src/compute/outbox.relay';
import {
  computeEntities,
  computeMigrations,
  InstanceEntity,
  OutboxEntity,
  type InstanceRow,
} from '../../src/compute/store';

const log = createLogger('events-test', { level: 'silent' });
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

type Event = PayloadOf<typeof instanceStateChanged>;

function instance(id: string): Omit<InstanceRow, 'seq'> {
  const t = '2026-01-01T00:00:00.000Z';
  return {
    id,
    projectId: 'p1',
    userId: 'u1',
    name: 'vm',
    description: null,
    hostname: 'vm',
    flavorId: '1',
    vcpus: 1,
    ramMb: 512,
    diskGb: 1,
    flavor: {
      id: '1',
      name: 'f',
      vcpus: 1,
      ramMb: 512,
      diskGb: 1,
      ephemeralGb: 0,
      swapMb: 0,
      extraSpecs: {},
    },
    imageId: 'img',
    keyName: null,
    keyData: null,
    userData: null,
    metadata: {},
    tags: [],
    availabilityZone: null,
    serverGroupId: null,
    host: null,
    vmState: 'building',
    taskState: 'scheduling',
    powerState: 0,
    fault: null,
    attempt: 1,
    lastEventAt: null,
    launchedAt: null,
    terminatedAt: null,
    createdAt: t,
    updatedAt: t,
    deletedAt: null,
    deleted: false,
    locked: false,
    reservationId: 'r-1',
    launchIndex: 0,
    accessIpv4: '',
    accessIpv6: '',
    configDrive: '',
  };
}

function event(id: string, second: number, change: Partial<Event>): Event {
  return {
    instance_id: id,
    host: 'node1',
    attempt: 1,
    vm_state: 'active',
    task_state: null,
    power_state: 1,
    fault: null,
    occurred_at: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
    ...change,
  };
}

describe.each([
  ['SQLite', undefined],
  ['PostgreSQL', PG_URL],
])('instance state events in batches on %s', (_, url) => {
  let dir: string;
  let db: DataSource;
  let kicks: number;
  let handlers: InstanceEventHandlers;
  const schema = `events_test_${randomBytes(4).toString('hex')}`;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strato-events-'));
    db = await openDatabase({
      url,
      dataDir: dir,
      schema,
      entities: computeEntities,
      migrations: computeMigrations,
    });
    kicks = 0;
    const relay = { kick: () => void kicks++ } as unknown as OutboxRelay;
    handlers = new InstanceEventHandlers({ db, relay, log });
  });

  afterEach(async () => {
    if (url) await db.query(`DROP SCHEMA "${schema}" CASCADE`);
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const row = (id: string) => db.getRepository(InstanceEntity).findOneByOrFail({ id });

  it('applies events delivered together in order, per instance, and ignores stale and unknown ones', async () => {
    const [a, b, deleted] = [randomUUID(), randomUUID(), randomUUID()];
    await db
      .getRepository(InstanceEntity)
      .insert([instance(a), instance(b), { ...instance(deleted), deleted: true }]);

    await Promise.all([
      handlers.stateChanged(event(a, 1, { vm_state: 'building', task_state: 'spawning', power_state: 0 })),
      handlers.stateChanged(event(b, 1, {})),
      handlers.stateChanged(event(a, 2, {})), // active, after spawning
      handlers.stateChanged(event(randomUUID(), 1, {})), // unknown: ignored
      handlers.stateChanged(event(a, 0, { vm_state: 'error' })), // older than what a has: stale
      handlers.stateChanged(event(b, 3, { vm_state: 'stopped', power_state: 4 })),
      handlers.stateChanged(event(deleted, 1, {})), // a guest of a deleted instance: cleanup
    ]);

    expect(await row(a)).toMatchObject({ vmState: 'active', powerState: 1, host: 'node1', taskState: null });
    expect((await row(a)).lastEventAt).toBe('2026-01-01T00:00:02.000Z');
    expect(await row(b)).toMatchObject({ vmState: 'stopped', powerState: 4 });
    const outbox = await db.getRepository(OutboxEntity).find();
    expect(outbox.map((m) => [m.messageType, m.host, m.payload.instance_id])).toEqual([
      ['compute.delete_instance', 'node1', deleted],
    ]);
    expect(kicks).toBe(1);
  });

  it('keeps applying the events of later batches to what earlier ones committed', async () => {
    const a = randomUUID();
    await db.getRepository(InstanceEntity).insert(instance(a));
    await handlers.stateChanged(event(a, 1, {}));
    await handlers.stateChanged(event(a, 2, { vm_state: 'stopped', power_state: 4 }));
    await handlers.stateChanged(event(a, 1, {})); // a redelivery of the first: stale now
    expect(await row(a)).toMatchObject({ vmState: 'stopped', powerState: 4 });
  });
});
