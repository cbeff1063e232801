/**
 * The outbox: a message written with its change survives a broker that cannot take it, and is
 * published (with its original message id) and removed once a relay — here a new one, as
 * after a restart — gets the broker's confirm.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBroker, MemoryBus, type Envelope } from '@strato/bus';
import { inTransaction, openDatabase, type DataSource } from '@strato/db';
import { createLogger } from '@strato/log';
import { schedulerQueues } from '@strato/contracts';
import { enqueue, OutboxRelay } from '../../src/compute/outbox.relay';
import { computeEntities, computeMigrations, OutboxEntity } from '../../src/compute/store';

const log = createLogger('outbox-test', { level: 'silent' });
const instanceId = '5b0e8a0c-58a4-4b53-9d3e-2d6f0b4f8d11';

describe('compute outbox relay', () => {
  let dir: string;
  let db: DataSource;
  let broker: MemoryBroker;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strato-outbox-'));
    db = await openDatabase({
      url: undefined,
      dataDir: dir,
      schema: 'compute',
      entities: computeEntities,
      migrations: computeMigrations,
    });
    broker = new MemoryBroker();
  });

  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a message the broker refused and publishes it from a later relay, once', async () => {
    await inTransaction(db, (em) =>
      enqueue(em, { type: 'scheduler.release_claim', host: null, payload: { instance_id: instanceId } }),
    );
    const [row] = await db.getRepository(OutboxEntity).find();

    // Nothing is bound to the scheduler's routing key yet: the publish is refused.
    const first = new MemoryBus({ service: 'api', log, broker, publishTimeoutMs: 200 });
    await new OutboxRelay({ db, bus: first, log }).drain();
    expect(await db.getRepository(OutboxEntity).count()).toBe(1);
    await first.close();

    const received: Envelope<unknown>[] = [];
    const scheduler = new MemoryBus({ service: 'scheduler', log, broker });
    await scheduler.consume(
      schedulerQueues.requests.queue,
      async (e) => {
        received.push(e);
      },
      { bindings: schedulerQueues.requests.bindings },
    );
    const second = new MemoryBus({ service: 'api', log, broker });
    await new OutboxRelay({ db, bus: second, log }).drain();
    expect(await db.getRepository(OutboxEntity).count()).toBe(0);
    for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      id: row!.id,
      type: 'scheduler.release_claim',
      version: 1,
      requestId: row!.requestId,
      payload: { instance_id: instanceId },
    });
    await Promise.all([second.close(), scheduler.close()]);
  });

  it('sends messages of one instance in the order they were written', async () => {
    const received: string[] = [];
    const agent = new MemoryBus({ service: 'agent', log, broker });
    await agent.consume(
      'compute.node9',
      async (e) => {
        received.push(e.type);
      },
      { bindings: ['compute.node9'], prefetch: 1 },
    );
    await inTransaction(db, async (em) => {
      await enqueue(em, {
        type: 'compute.stop_instance',
        host: 'node9',
        payload: { instance_id: instanceId },
      });
      await enqueue(em, {
        type: 'compute.start_instance',
        host: 'node9',
        payload: { instance_id: instanceId },
      });
      await enqueue(em, {
        type: 'compute.delete_instance',
        host: 'node9',
        payload: { instance_id: instanceId },
      });
    });
    const bus = new MemoryBus({ service: 'api', log, broker });
    await new OutboxRelay({ db, bus, log }).drain();
    for (let i = 0; i < 100 && received.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received).toEqual(['compute.stop_instance', 'compute.start_instance', 'compute.delete_instance']);
    await Promise.all([bus.close(), agent.close()]);
  });

  it('publishes rows handed over by their writer without reading the table; a refused one waits for a read', async () => {
    const received: string[] = [];
    const scheduler = new MemoryBus({ service: 'scheduler', log, broker });
    const bus = new MemoryBus({ service: 'api', log, broker, publishTimeoutMs: 200 });
    const relay = new OutboxRelay({ db, bus, log, pollMs: 60_000 });
    relay.start();
    await new Promise((r) => setTimeout(r, 50)); // its first pass, over an empty table, is done
    const write = async () => {
      await inTransaction(db, (em) =>
        enqueue(em, { type: 'scheduler.release_claim', host: null, payload: { instance_id: instanceId } }),
      );
      return (await db.getRepository(OutboxEntity).find({ order: { seq: 'DESC' }, take: 1 }))[0]!;
    };
    const until = async (done: () => Promise<boolean>) => {
      for (let i = 0; i < 200 && !(await done()); i++) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      // No consumer bound yet: the offered row is refused and stays in the table.
      relay.offer([await write()]);
      await new Promise((r) => setTimeout(r, 400));
      expect(await db.getRepository(OutboxEntity).count()).toBe(1);

      await scheduler.consume(
        schedulerQueues.requests.queue,
        async (e) => {
          received.push(e.id);
        },
        { bindings: schedulerQueues.requests.bindings },
      );
      const find = jest.spyOn(db.getRepository(OutboxEntity), 'find');
      const offered = await write();
      find.mockClear();
      relay.offer([offered]);
      await until(async () => received.includes(offered.id));
      expect(find).not.toHaveBeenCalled(); // sent as handed over
      find.mockRestore();
      expect(await db.getRepository(OutboxEntity).count()).toBe(1); // only the refused one is left

      await relay.drain(); // a pass that reads the table sends the refused one
      await until(async () => received.length === 2);
      expect(received).toHaveLength(2);
      expect(await db.getRepository(OutboxEntity).count()).toBe(0);
    } finally {
      await relay.stop();
      await Promise.all([bus.close(), scheduler.close()]);
    }
  });
  it('starts a kicked pass when nextTurn lets it, with what came meanwhile', async () => {
    const received: string[] = [];
    const scheduler = new MemoryBus({ service: 'scheduler', log, broker });
    await scheduler.consume(
      schedulerQueues.requests.queue,
      async (e) => {
        received.push(e.id);
      },
      { bindings: schedulerQueues.requests.bindings },
    );
    const bus = new MemoryBus({ service: 'api', log, broker });
    const write = async () => {
      await inTransaction(db, (em) =>
        enqueue(em, { type: 'scheduler.release_claim', host: null, payload: { instance_id: instanceId } }),
      );
      return (await db.getRepository(OutboxEntity).find({ order: { seq: 'DESC' }, take: 1 }))[0]!;
    };
    let letGo: () => void = () => undefined;
    const nextTurn = jest.fn(() => new Promise<void>((resolve) => (letGo = resolve)));
    const relay = new OutboxRelay({ db, bus, log, pollMs: 60_000, nextTurn });
    try {
      relay.start(); // its first pass waits for nextTurn
      const [first, second] = [await write(), await write()];
      relay.offer([first]);
      relay.offer([second]);
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toEqual([]); // held
      expect(nextTurn).toHaveBeenCalledTimes(1); // the kicks meanwhile share the pass
      letGo();
      for (let i = 0; i < 300 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(received).toEqual([first.id, second.id]);
    } finally {
      letGo();
      await relay.stop();
      await Promise.all([bus.close(), scheduler.close()]);
    }
  });
});
