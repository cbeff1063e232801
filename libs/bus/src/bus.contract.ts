/**
 * The one contract suite every Bus implementation must pass (MemoryBus in the unit tests,
 * AmqpBus against RabbitMQ in the integration tests), so the in-process bus cannot drift
 * from the real one. Not exported from the package: test code imports it by path.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '@strato/errors';
import { currentRequestId, withRequestId } from '@strato/log';
import type { Bus, DeliveryContext } from './bus';
import type { Envelope } from './envelope';
import { dlqName, dlxName } from './topology';

export interface ContractBus extends Bus {
  /** Drops the connection at once, as a crashed process would. */
  abandon(): Promise<void>;
}

export interface ContractBusOptions {
  exchange: string;
  service: string;
  maxDeliveries?: number;
  retryDelayMs?: number;
}

export interface BusHarness {
  /** A new bus (one "process") on the broker shared by the suite. */
  create(options: ContractBusOptions): ContractBus;
  /** Deletes what a test declared, once its buses are closed. */
  cleanup(names: { exchanges: string[]; queues: string[] }): Promise<void>;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `read` until `done` holds (or fails the test after timeoutMs). */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(25);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function busContract(name: string, makeHarness: () => BusHarness): void {
  describe(`Bus contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    let harness: BusHarness;
    let count = 0;
    let exchange = '';
    let queues: string[] = [];
    let buses: ContractBus[] = [];

    const newBus = (options: Partial<ContractBusOptions> = {}) => {
      const bus = harness.create({ exchange, service: 'contract', retryDelayMs: 5, ...options });
      buses.push(bus);
      return bus;
    };
    const newQueue = (role: string) => {
      const queue = `${exchange}.${role}`;
      queues.push(queue);
      return queue;
    };

    beforeAll(() => {
      harness = makeHarness();
    });
    beforeEach(() => {
      count += 1;
      exchange = `strato-test-${run}-${count}`;
      queues = [];
      buses = [];
    });
    afterEach(async () => {
      await Promise.all(buses.map((bus) => bus.close()));
      await harness.cleanup({
        exchanges: [exchange, dlxName(exchange)],
        queues: queues.flatMap((q) => [q, dlqName(q)]),
      });
    });

    describe('publish and consume', () => {
      it('delivers a message with its envelope intact, in the request id of the publisher', async () => {
        const bus = newBus({ service: 'api' });
        const queue = newQueue('events');
        const got = deferred<{ envelope: Envelope<unknown>; context: DeliveryContext; requestId?: string }>();
        await bus.consume(
          queue,
          async (envelope, context) => got.resolve({ envelope, context, requestId: currentRequestId() }),
          { schema: z.object({ instanceId: z.string(), vcpus: z.number() }) },
        );
        const sent = await withRequestId('req-contract-1', () =>
          bus.publish(queue, {
            type: 'compute.build_instance',
            version: 2,
            payload: { instanceId: 'i-1', vcpus: 2 },
          }),
        );
        const { envelope, context, requestId } = await got.promise;
        expect(envelope).toEqual(sent);
        expect(envelope).toMatchObject({
          type: 'compute.build_instance',
          version: 2,
          requestId: 'req-contract-1',
          sender: 'api',
          payload: { instanceId: 'i-1', vcpus: 2 },
        });
        expect(envelope.id).toMatch(UUID);
        expect(new Date(envelope.sentAt).toISOString()).toBe(envelope.sentAt);
        expect(requestId).toBe('req-contract-1');
        expect(context).toEqual({ queue, deliveries: 1, redelivered: false });
      });

      it('gives a message published outside any request a fresh request id', async () => {
        const bus = newBus();
        const queue = newQueue('events');
        const got = deferred<string | undefined>();
        await bus.consume(queue, async () => got.resolve(currentRequestId()));
        const sent = await bus.publish(queue, { type: 'image.uploaded', version: 1, payload: {} });
        expect(sent.requestId).toMatch(/^req-/);
        expect(await got.promise).toBe(sent.requestId);
      });

      it('routes by topic pattern', async () => {
        const bus = newBus();
        const queue = newQueue('builds');
        const got = deferred<string>();
        await bus.consume(queue, async (e) => got.resolve(e.type), { bindings: ['compute.*.build'] });
        await bus.publish('compute.host1.build', { type: 'compute.build_instance', version: 1, payload: {} });
        expect(await got.promise).toBe('compute.build_instance');
      });

      it('rejects a publish no queue is bound to receive, with kind Unavailable', async () => {
        const bus = newBus();
        newQueue('unused');
        await bus.consume(`${exchange}.unused`, async () => undefined);
        await expect(
          bus.publish(`${exchange}.nobody-listens`, { type: 'x.y', version: 1, payload: {} }),
        ).rejects.toMatchObject({ kind: 'Unavailable' });
      });

      it('keeps a confirmed message for a consumer that comes later', async () => {
        const bus = newBus();
        const queue = newQueue('later');
        const first = await bus.consume(queue, async () => undefined);
        await first.cancel();
        const sent = await bus.publish(queue, { type: 'x.later', version: 1, payload: { n: 1 } });
        const got = deferred<Envelope<unknown>>();
        await bus.consume(queue, async (e) => got.resolve(e));
        expect((await got.promise).id).toBe(sent.id);
      });

      it('keeps no more than prefetch deliveries in flight per consumer', async () => {
        const bus = newBus();
        const queue = newQueue('slow');
        const release = deferred();
        let started = 0;
        const both = deferred();
        await bus.consume(
          queue,
          async () => {
            started += 1;
            if (started === 2) both.resolve();
            await release.promise;
          },
          { prefetch: 1 },
        );
        try {
          await bus.publish(queue, { type: 'x.one', version: 1, payload: {} });
          await bus.publish(queue, { type: 'x.two', version: 1, payload: {} });
          await delay(300);
          expect(started).toBe(1);
        } finally {
          release.resolve();
        }
        await both.promise;
      });
    });

    describe('RPC', () => {
      it('returns the server result to the caller, with the request id carried across', async () => {
        const server = newBus({ service: 'scheduler' });
        const client = newBus({ service: 'api' });
        const queue = newQueue('rpc');
        await server.serve(
          queue,
          async (e) => ({ sum: e.payload.a + e.payload.b, requestId: currentRequestId(), sender: e.sender }),
          { schema: z.object({ a: z.number(), b: z.number() }) },
        );
        const result = await withRequestId('req-rpc-1', () =>
          client.call(
            queue,
            { type: 'math.add', version: 1, payload: { a: 2, b: 3 } },
            {
              timeoutMs: 5_000,
              schema: z.object({ sum: z.number(), requestId: z.string(), sender: z.string() }),
            },
          ),
        );
        expect(result).toEqual({ sum: 5, requestId: 'req-rpc-1', sender: 'api' });
      });

      it('rejects with kind Timeout when no reply comes in time', async () => {
        const server = newBus();
        const client = newBus();
        const queue = newQueue('rpc-slow');
        await server.serve(queue, async () => {
          await delay(1_000);
          return 'too late';
        });
        const started = Date.now();
        const error = await client
          .call(queue, { type: 'x.slow', version: 1, payload: {} }, { timeoutMs: 300 })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({ kind: 'Timeout' });
        expect(Date.now() - started).toBeGreaterThanOrEqual(250);
        expect(Date.now() - started).toBeLessThan(900);
      });

      it("rethrows the server's error with its kind, message and retryable flag", async () => {
        const server = newBus();
        const client = newBus();
        const queue = newQueue('rpc-error');
        await server.serve(queue, async () => {
          throw new AppError('NotFound', 'instance i-9 could not be found');
        });
        const error = await client
          .call(queue, { type: 'compute.get_console', version: 1, payload: {} }, { timeoutMs: 5_000 })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({
          kind: 'NotFound',
          message: 'instance i-9 could not be found',
          retryable: false,
        });
      });

      it('answers an invalid request with kind Invalid and dead-letters it', async () => {
        const server = newBus();
        const client = newBus();
        const queue = newQueue('rpc-strict');
        let calls = 0;
        await server.serve(queue, async () => (calls += 1), { schema: z.object({ hostId: z.uuid() }) });
        await expect(
          client.call(queue, { type: 'x.strict', version: 1, payload: { hostId: 7 } }, { timeoutMs: 5_000 }),
        ).rejects.toMatchObject({ kind: 'Invalid' });
        const letters = await eventually(
          () => server.takeDeadLetters(queue),
          (l) => l.length > 0,
        );
        expect(letters[0]?.error.kind).toBe('Invalid');
        expect(calls).toBe(0);
      });

      it('rejects at once with kind Unavailable when nobody serves the target', async () => {
        const client = newBus();
        newQueue('bound');
        await client.consume(`${exchange}.bound`, async () => undefined);
        await expect(
          client.call(`${exchange}.nobody`, { type: 'x.y', version: 1, payload: {} }, { timeoutMs: 5_000 }),
        ).rejects.toMatchObject({ kind: 'Unavailable' });
      });
    });

    describe('failures', () => {
      it('redelivers an unacked message to another consumer when its consumer dies', async () => {
        const publisher = newBus();
        const doomed = newBus({ service: 'doomed' });
        const survivor = newBus({ service: 'survivor' });
        const queue = newQueue('work');
        const taken = deferred<Envelope<unknown>>();
        const hold = deferred();
        await doomed.consume(queue, async (e) => {
          taken.resolve(e);
          await hold.promise;
        });
        try {
          const sent = await publisher.publish(queue, {
            type: 'compute.reboot_instance',
            version: 1,
            payload: {},
          });
          expect((await taken.promise).id).toBe(sent.id);

          await doomed.abandon();
          const redelivered = deferred<{ envelope: Envelope<unknown>; context: DeliveryContext }>();
          await survivor.consume(queue, async (envelope, context) =>
            redelivered.resolve({ envelope, context }),
          );
          const { envelope, context } = await redelivered.promise;
          expect(envelope).toEqual(sent);
          expect(context.redelivered).toBe(true);
        } finally {
          hold.resolve(); // the dead consumer's handler ends; its outcome must be discarded
        }
      });

      it('dead-letters a message whose payload fails its schema, with the reason and original body', async () => {
        const bus = newBus();
        const queue = newQueue('strict');
        let calls = 0;
        await bus.consume(queue, async () => void (calls += 1), {
          schema: z.object({ instanceId: z.uuid() }),
        });
        const sent = await bus.publish(queue, {
          type: 'compute.delete_instance',
          version: 1,
          payload: { instanceId: 'not-a-uuid' },
        });
        const letters = await eventually(
          () => bus.takeDeadLetters(queue),
          (l) => l.length > 0,
        );
        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({
          queue,
          error: { kind: 'Invalid', retryable: false },
          deliveries: 1,
          envelope: sent,
        });
        expect(letters[0]!.reason).toContain('instanceId');
        expect(JSON.parse(letters[0]!.body)).toEqual(sent);
        expect(calls).toBe(0);
      });

      it('dead-letters at once a message whose handler fails with a non-retryable error', async () => {
        const bus = newBus();
        const queue = newQueue('conflict');
        let calls = 0;
        await bus.consume(queue, async () => {
          calls += 1;
          throw new AppError('Conflict', 'instance is locked');
        });
        const sent = await bus.publish(queue, { type: 'compute.stop_instance', version: 1, payload: {} });
        const letters = await eventually(
          () => bus.takeDeadLetters(queue),
          (l) => l.length > 0,
        );
        expect(letters[0]).toMatchObject({
          error: { kind: 'Conflict', message: 'instance is locked', retryable: false },
          deliveries: 1,
        });
        expect(letters[0]!.reason).toContain('instance is locked');
        expect(letters[0]!.envelope?.id).toBe(sent.id);
        expect(calls).toBe(1);
      });

      it('redelivers after retryable errors, then dead-letters after maxDeliveries', async () => {
        const bus = newBus({ maxDeliveries: 3 });
        const queue = newQueue('flaky');
        const seen: number[] = [];
        await bus.consume(queue, async (_e, context) => {
          seen.push(context.deliveries);
          throw new AppError('Unavailable', 'database unreachable');
        });
        await bus.publish(queue, { type: 'compute.build_instance', version: 1, payload: {} });
        const letters = await eventually(
          () => bus.takeDeadLetters(queue),
          (l) => l.length > 0,
        );
        expect(seen).toEqual([1, 2, 3]);
        expect(letters[0]).toMatchObject({ deliveries: 3, error: { kind: 'Unavailable', retryable: true } });
        expect(letters[0]!.reason).toContain('gave up after 3 deliveries');
      });

      it('acks a message that succeeds on redelivery after a retryable error', async () => {
        const bus = newBus({ maxDeliveries: 3 });
        const queue = newQueue('recovers');
        const seen: number[] = [];
        const done = deferred();
        await bus.consume(queue, async (_e, context) => {
          seen.push(context.deliveries);
          if (context.deliveries === 1) throw new AppError('Timeout', 'libvirt did not answer');
          done.resolve();
        });
        await bus.publish(queue, { type: 'compute.build_instance', version: 1, payload: {} });
        await done.promise;
        await delay(100);
        expect(seen).toEqual([1, 2]);
        expect(await bus.takeDeadLetters(queue)).toEqual([]);
      });
    });

    describe('lifecycle', () => {
      it('reports ready while connected, and not after close', async () => {
        const bus = newBus();
        const queue = newQueue('ready');
        await bus.consume(queue, async () => undefined);
        expect(bus.isReady()).toBe(true);
        expect(await bus.ping()).toBe(true);
        await bus.close();
        expect(bus.isReady()).toBe(false);
        expect(await bus.ping()).toBe(false);
      });

      it('waits for in-flight handlers on close, and acks their messages', async () => {
        const bus = newBus();
        const queue = newQueue('graceful');
        const started = deferred();
        let finished = false;
        await bus.consume(queue, async () => {
          started.resolve();
          await delay(300);
          finished = true;
        });
        await bus.publish(queue, { type: 'x.slow', version: 1, payload: {} });
        await started.promise;
        await bus.close();
        expect(finished).toBe(true);

        const again = newBus();
        const redelivered = jest.fn(async () => undefined);
        await again.consume(queue, redelivered);
        await delay(200);
        expect(redelivered).not.toHaveBeenCalled();
      });

      it('rejects publishes after close', async () => {
        const bus = newBus();
        await bus.close();
        await expect(bus.publish('x', { type: 'x.y', version: 1, payload: {} })).rejects.toMatchObject({
          kind: 'Unavailable',
        });
      });
    });
  });
}
