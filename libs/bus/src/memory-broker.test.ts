import { DeliveryPump } from './memory-broker';

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
});
