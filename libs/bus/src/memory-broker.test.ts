import { DeliveryPump, MemoryBroker } from './memory-broker';

describe('DeliveryPump', () => {
  it('runs deliveries in order, one per event-loop turn, so I/O gets turns between them', async () => {
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const pump = new DeliveryPump();
    const seen: { name: string; turn: number }[] = [];
    await new Promise<void>((done) => {
      for (const name of ['a', 'b', 'c', 'd']) {
        pump.push(() => {
          seen.push({ name, turn });
          if (name === 'd') done();
        });
      }
    });
    ticking = false;
    expect(seen.map((s) => s.name)).toEqual(['a', 'b', 'c', 'd']);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.turn).toBeGreaterThan(seen[i - 1]!.turn);
  });

  it('holds deliveries while yieldTo says other work goes first, and lets them go when it is done', async () => {
    let busy = true;
    const pump = new DeliveryPump({ yieldTo: () => busy, maxWaitMs: 60_000 });
    const ran: string[] = [];
    const delivered = new Promise<void>((done) =>
      pump.push(() => {
        ran.push('a');
        done();
      }),
    );
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
    expect(ran).toEqual([]);
    busy = false;
    await delivered;
    expect(ran).toEqual(['a']);
  });

  it('never holds a delivery past maxWaitMs, however busy', async () => {
    const pump = new DeliveryPump({ yieldTo: () => true, maxWaitMs: 5 });
    const ran: string[] = [];
    await new Promise<void>((done) => {
      for (const name of ['a', 'b']) {
        pump.push(() => {
          ran.push(name);
          if (name === 'b') done();
        });
      }
    });
    expect(ran).toEqual(['a', 'b']);
  });
});

describe('MemoryBroker routing', () => {
  const message = (id: string) => ({
    body: Buffer.from(id),
    messageId: id,
    type: 't',
    persistent: true,
    headers: {},
  });

  it('routes a key again after a binding is added or its queue deleted', () => {
    const broker = new MemoryBroker();
    broker.assertExchange('ex');
    broker.assertQueue('q1');
    broker.bindQueue('q1', 'ex', 'compute.*');
    expect(broker.publish('ex', 'compute.node1', message('m1'))).toBe(1);
    expect(broker.publish('ex', 'compute.node1', message('m2'))).toBe(1); // the remembered route

    broker.assertQueue('q2');
    broker.bindQueue('q2', 'ex', '#');
    expect(broker.publish('ex', 'compute.node1', message('m3'))).toBe(2);
    expect(broker.depth('q2')).toBe(1);

    broker.deleteQueue('q1');
    expect(broker.publish('ex', 'compute.node1', message('m4'))).toBe(1);
    expect(broker.depth('q2')).toBe(2);
  });
});
