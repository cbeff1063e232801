/**
 * Instance state events are applied in batches: events delivered together share one
 * transaction, applied in arrival order, each to what the one before it left; a stale or
 * unknown one changes nothing and fails no other. On SQLite and on PostgreSQL (row locks).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import { InstanceEventHandlers } from '../../src/compute/events.handlers';
import type { OutboxRelay } from '../../src/compute/outbox.relay';
import { computeEntities, computeMigrations, InstanceEntity, OutboxEntity } from '../../src/compute/store';
import { instanceRow, stateEvent, type StateChangedEvent } from '../../src/compute/testing/fixtures';

const log = createLogger('events-test', { level: 'silent' });
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** An event of instance id at the given second of 2026-01-01. */
function event(id: string, second: number, change: Partial<StateChangedEvent>): StateChangedEvent {
  return stateEvent({
    instance_id: id,
    occurred_at: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
    ...change,
  });
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
      .insert([instanceRow(a), instanceRow(b), instanceRow(deleted, { deleted: true })]);

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
    await db.getRepository(InstanceEntity).insert(instanceRow(a));
    await handlers.stateChanged(event(a, 1, {}));
    await handlers.stateChanged(event(a, 2, { vm_state: 'stopped', power_state: 4 }));
    await handlers.stateChanged(event(a, 1, {})); // a redelivery of the first: stale now
    expect(await row(a)).toMatchObject({ vmState: 'stopped', powerState: 4 });
  });

  it("takes the zone of the host an instance runs on from its agent's events, not from stale ones", async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await db.getRepository(InstanceEntity).insert([instanceRow(a), instanceRow(b)]);
    await handlers.stateChanged(event(a, 2, { availability_zone: 'az2' }));
    await handlers.stateChanged(event(a, 1, { availability_zone: 'az-stale' }));
    await handlers.stateChanged(event(b, 1, {})); // a sender that does not know the zone
    expect(await row(a)).toMatchObject({ host: 'node1', availabilityZone: 'az2' });
    expect((await row(b)).availabilityZone).toBeNull();
  });
});
