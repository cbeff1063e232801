import { randomUUID } from 'node:crypto';
import { MemoryBroker, MemoryBus, type Envelope } from '@strato/bus';
import { createLogger } from '@strato/log';
import { ComputeClient, EventPublisher, SchedulerClient } from './clients';
import { MessageRouter, type PayloadOf } from './contract';
import { buildInstance, getConsoleOutput, rebootInstance, snapshotInstance } from './compute.messages';
import { releaseClaim, scheduleInstance } from './scheduler.messages';
import { instanceStateChanged } from './events.messages';
import { computeQueues, schedulerQueues } from './topology';
import { sampleInstanceSpec } from './testing';

const log = createLogger('contracts-test', { level: 'silent' });

const instanceSpec = sampleInstanceSpec;

function waitFor<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('typed clients and the message router', () => {
  let broker: MemoryBroker;
  let bus: MemoryBus;

  beforeEach(() => {
    broker = new MemoryBroker();
    bus = new MemoryBus({ service: 'test', log, broker });
  });
  afterEach(() => bus.close());

  it("sends a schedule request to the scheduler's requests queue, validated and versioned", async () => {
    const got = waitFor<Envelope<PayloadOf<typeof scheduleInstance>>>();
    const router = new MessageRouter()
      .on(scheduleInstance, async (e) => got.resolve(e))
      .on(releaseClaim, async () => undefined);
    await bus.consume(schedulerQueues.requests.queue, router.handler(), {
      bindings: schedulerQueues.requests.bindings,
    });
    const spec = instanceSpec();
    await new SchedulerClient(bus).scheduleInstance({
      ...spec,
      availability_zone: null,
      server_group: null,
      attempt: 1,
      excluded_hosts: [],
    });
    const envelope = await got.promise;
    expect(envelope).toMatchObject({
      type: 'scheduler.schedule_instance',
      version: scheduleInstance.version,
    });
    expect(envelope.payload.instance_id).toBe(spec.instance_id);
  });

  it('reads an instance spec written before key_name as one without a key pair', () => {
    const { key_name: _absent, ...older } = instanceSpec();
    expect(buildInstance.schema.parse({ ...older, host: 'node1', attempt: 1 }).key_name).toBeNull();
  });

  it('refuses to send a payload that breaks its contract', async () => {
    await expect(new ComputeClient(bus, 'node1').rebootInstance('not-a-uuid', 'SOFT')).rejects.toMatchObject({
      kind: 'Invalid',
    });
  });

  it("sends compute casts to the host's own queue and nowhere else", async () => {
    const one: string[] = [];
    const two: string[] = [];
    for (const [host, seen] of [
      ['node1', one],
      ['node2', two],
    ] as const) {
      const q = computeQueues(host).casts;
      await bus.consume(
        q.queue,
        new MessageRouter()
          .on(buildInstance, async (e) => void seen.push(e.payload.instance_id))
          .on(rebootInstance, async (e) => void seen.push(`reboot ${e.payload.reboot_type}`))
          .on(snapshotInstance, async (e) => void seen.push(`snapshot ${e.payload.image_id}`))
          .handler(),
        { bindings: q.bindings },
      );
    }
    const spec = instanceSpec();
    await new ComputeClient(bus, 'node2').buildInstance({ ...spec, host: 'node2', attempt: 1 });
    await new ComputeClient(bus, 'node2').rebootInstance(spec.instance_id, 'HARD');
    const imageId = randomUUID();
    await new ComputeClient(bus, 'node2').snapshotInstance(spec.instance_id, imageId);
    for (let i = 0; i < 50 && two.length < 3; i++) await new Promise((r) => setImmediate(r));
    expect(two).toEqual([spec.instance_id, 'reboot HARD', `snapshot ${imageId}`]);
    expect(one).toEqual([]);
  });

  it('answers console output over RPC with a validated reply', async () => {
    const q = computeQueues('node1').rpc;
    await bus.serve(
      q.queue,
      new MessageRouter()
        .onCall(getConsoleOutput, async (e) => ({ output: `log of ${e.payload.instance_id}` }))
        .rpcHandler(),
      { bindings: q.bindings },
    );
    const id = randomUUID();
    await expect(new ComputeClient(bus, 'node1').getConsoleOutput(id, 10)).resolves.toEqual({
      output: `log of ${id}`,
    });
  });

  it('dead-letters a message of a type or version the queue does not accept', async () => {
    const handled = jest.fn(async () => undefined);
    await bus.consume('events-test', new MessageRouter().on(instanceStateChanged, handled).handler(), {
      bindings: ['instance.#'],
    });
    await bus.publish('instance.state_changed', {
      type: 'instance.state_changed',
      version: 99,
      payload: {},
    });
    let letters = await bus.takeDeadLetters('events-test');
    for (let i = 0; i < 100 && letters.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
      letters = await bus.takeDeadLetters('events-test');
    }
    expect(letters[0]?.reason).toContain('no handler for instance.state_changed v99');
    expect(handled).not.toHaveBeenCalled();
  });

  it('publishes state events that validate at the receiver', async () => {
    const got = waitFor<Envelope<PayloadOf<typeof instanceStateChanged>>>();
    await bus.consume(
      'events-test-2',
      new MessageRouter().on(instanceStateChanged, async (e) => got.resolve(e)).handler(),
      { bindings: ['instance.state_changed'] },
    );
    const id = randomUUID();
    await new EventPublisher(bus).instanceStateChanged({
      instance_id: id,
      host: null,
      attempt: 1,
      vm_state: 'error',
      task_state: null,
      power_state: 0,
      fault: { code: 500, message: 'No valid host was found. ', details: null },
      occurred_at: new Date().toISOString(),
    });
    expect((await got.promise).payload).toMatchObject({ instance_id: id, vm_state: 'error' });
  });
});
