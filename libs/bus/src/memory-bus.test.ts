import { createLogger } from '@strato/log';
import { busContract, eventually } from './bus.contract';
import { MemoryBroker } from './memory-broker';
import { MemoryBus } from './memory-bus';

const log = createLogger('bus-test', { level: 'silent' });

let broker = new MemoryBroker();
busContract('MemoryBus', () => ({
  create: (options) => new MemoryBus({ ...options, log, broker }),
  cleanup: async ({ queues }) => {
    for (const queue of queues) broker.deleteQueue(queue);
  },
}));

describe('MemoryBus', () => {
  beforeEach(() => {
    broker = new MemoryBroker();
  });

  it('dead-letters a body that is not a valid envelope', async () => {
    const bus = new MemoryBus({ service: 'test', log, broker, exchange: 'mem' });
    const handler = jest.fn(async () => undefined);
    await bus.consume('garbage', handler);
    broker.publish('mem', 'garbage', {
      body: Buffer.from('{"not":"an envelope"}'),
      messageId: 'm-1',
      type: 'x',
      persistent: true,
      headers: {},
    });
    const letters = await eventually(
      () => bus.takeDeadLetters('garbage'),
      (l) => l.length > 0,
    );
    expect(letters[0]).toMatchObject({ error: { kind: 'Invalid' }, body: '{"not":"an envelope"}' });
    expect(letters[0]!.reason).toContain('invalid message envelope');
    expect(letters[0]!.envelope).toBeUndefined();
    expect(handler).not.toHaveBeenCalled();
    await bus.close();
  });

  it('lets buses sharing a broker talk to each other', async () => {
    const a = new MemoryBus({ service: 'a', log, broker });
    const b = new MemoryBus({ service: 'b', log, broker });
    await b.serve('echo', async (e) => e.payload);
    await expect(a.call('echo', { type: 'x.echo', version: 1, payload: { hi: 1 } })).resolves.toEqual({
      hi: 1,
    });
    await Promise.all([a.close(), b.close()]);
  });

  it('drops an RPC request that expired before a server took it', async () => {
    const a = new MemoryBus({ service: 'a', log, broker });
    const b = new MemoryBus({ service: 'b', log, broker });
    const handler = jest.fn(async () => 'late');
    const sub = await b.serve('later', handler);
    await sub.cancel();
    await expect(
      a.call('later', { type: 'x.later', version: 1, payload: {} }, { timeoutMs: 50 }),
    ).rejects.toMatchObject({ kind: 'Timeout' });
    await new Promise((r) => setTimeout(r, 20)); // well past the request's expiry
    await b.serve('later', handler);
    await new Promise((r) => setTimeout(r, 50));
    expect(handler).not.toHaveBeenCalled();
    await Promise.all([a.close(), b.close()]);
  });
});
