/**
 * RabbitMQ restarts (rabbitmqctl stop_app / start_app): no confirmed message is lost, a publish
 * made while the broker is down waits and is confirmed once it is back, consumers resume.
 * start_app always runs afterwards, whatever happened in the test.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { AmqpBus } from '../src/amqp-bus';
import { deferred, delay, eventually } from '../src/bus.contract';
import { dlqName, dlxName } from '../src/topology';
import { AMQP_URL, deleteTopology, log } from './amqp-harness';

const run = promisify(execFile);
const rabbitmqctl = (command: 'stop_app' | 'start_app' | 'await_startup') =>
  run('rabbitmqctl', [command], { timeout: 60_000 });

async function startBroker(): Promise<void> {
  await rabbitmqctl('start_app');
  await rabbitmqctl('await_startup');
}

jest.setTimeout(120_000);

describe('AmqpBus across a broker restart', () => {
  const exchange = `strato-test-restart-${randomUUID().slice(0, 8)}`;
  const queues = [`${exchange}.work`, `${exchange}.parked`];
  let buses: AmqpBus[] = [];

  const newBus = () => {
    const bus = new AmqpBus({
      url: AMQP_URL,
      log,
      service: 'restart-test',
      exchange,
      publishTimeoutMs: 60_000,
      reconnectInitialDelayMs: 100,
      reconnectMaxDelayMs: 1_000,
    });
    buses.push(bus);
    return bus;
  };

  afterEach(async () => {
    try {
      await startBroker();
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
      buses = [];
    }
  });

  afterAll(async () => {
    await startBroker();
    await deleteTopology({
      exchanges: [exchange, dlxName(exchange)],
      queues: queues.flatMap((q) => [q, dlqName(q)]),
    });
  });

  it('holds a publish made while the broker is down, confirms it once it is back, and the resumed consumer gets it', async () => {
    const bus = newBus();
    const queue = queues[0]!;
    const received = new Set<string>();
    await bus.consume(queue, async (e) => void received.add(e.id));
    const before = await bus.publish(queue, { type: 'x.before', version: 1, payload: {} });
    await eventually(async () => received.has(before.id), Boolean);

    await rabbitmqctl('stop_app');
    await eventually(
      async () => bus.isReady(),
      (ready) => !ready,
      30_000,
    );
    expect(await bus.ping()).toBe(false);

    let settled = false;
    const during = bus.publish(queue, { type: 'x.during', version: 1, payload: { n: 2 } });
    void during.finally(() => (settled = true)).catch(() => undefined);
    await delay(1_500);
    expect(settled).toBe(false);

    await startBroker();
    const sent = await during;
    await eventually(async () => received.has(sent.id), Boolean, 30_000);
    expect(bus.isReady()).toBe(true);
    expect(await bus.ping()).toBe(true);

    const after = await bus.publish(queue, { type: 'x.after', version: 1, payload: {} });
    await eventually(async () => received.has(after.id), Boolean, 10_000);
  });

  it('keeps a confirmed message through a restart while no consumer runs', async () => {
    const publisher = newBus();
    const queue = queues[1]!;
    const sub = await publisher.consume(queue, async () => undefined);
    await sub.cancel();
    const sent = await publisher.publish(queue, { type: 'x.parked', version: 1, payload: { keep: true } });

    await rabbitmqctl('stop_app');
    await startBroker();

    const consumer = newBus();
    const got = deferred<string>();
    await consumer.consume(queue, async (e) => got.resolve(e.id));
    expect(await got.promise).toBe(sent.id);
  });
});
