/** Transport over a MemoryBroker: one instance plays the part of one broker connection. */
import { AppError } from '@strato/errors';
import type { MemoryBroker, MemoryConsumer, StoredMessage } from './memory-broker';
import {
  UnroutableError,
  type ConsumerSpec,
  type Delivery,
  type PublishTarget,
  type Transport,
  type TransportConsumer,
  type WireMessage,
} from './transport';

export class MemoryTransport implements Transport {
  private closed = false;
  private readonly consumers = new Set<MemoryConsumer>();
  private readonly exclusiveQueues = new Set<string>();

  constructor(private readonly broker: MemoryBroker) {}

  async publish(target: PublishTarget, message: WireMessage): Promise<void> {
    this.assertOpen();
    if (target.exchange !== '') this.broker.assertExchange(target.exchange);
    const routed = this.broker.publish(target.exchange, target.routingKey, message);
    if (routed === 0 && target.mandatory) throw new UnroutableError(target.exchange, target.routingKey);
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void): Promise<TransportConsumer> {
    this.assertOpen();
    for (const exchange of spec.exchanges) this.broker.assertExchange(exchange);
    for (const queue of spec.queues) {
      this.broker.assertQueue(queue.name, queue.exclusive);
      if (queue.exclusive) this.exclusiveQueues.add(queue.name);
      for (const b of queue.bindings) this.broker.bindQueue(queue.name, b.exchange, b.pattern);
    }
    const consumer: MemoryConsumer = this.broker.consume(
      spec.queue,
      { prefetch: spec.prefetch, noAck: spec.noAck },
      (message) => onDelivery(this.delivery(message, consumer)),
    );
    this.consumers.add(consumer);
    return {
      stop: async () => consumer.stop(),
      close: async () => {
        consumer.close();
        this.consumers.delete(consumer);
      },
    };
  }

  async get(queue: string): Promise<Delivery | undefined> {
    this.assertOpen();
    this.broker.assertQueue(queue);
    const message = this.broker.get(queue);
    if (!message) return undefined;
    const isOpen = () => !this.closed;
    return {
      message: received(message),
      get alive() {
        return isOpen();
      },
      ack: () => undefined,
      nack: (requeue) => {
        if (requeue) this.broker.assertQueue(queue).enqueue({ ...message, redelivered: true }, true);
      },
    };
  }

  isReady(): boolean {
    return !this.closed;
  }

  async ping(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const consumer of this.consumers) consumer.close();
    this.consumers.clear();
    for (const queue of this.exclusiveQueues) this.broker.deleteQueue(queue);
    this.exclusiveQueues.clear();
  }

  private delivery(message: StoredMessage, consumer: MemoryConsumer): Delivery {
    const isOpen = () => consumer.isOpen && !this.closed;
    return {
      message: received(message),
      get alive() {
        return isOpen();
      },
      ack: () => consumer.ack(message),
      nack: (requeue) => consumer.nack(message, requeue),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError('Unavailable', 'the connection is closed');
  }
}

function received(message: StoredMessage) {
  const { expiresAt: _expiresAt, ...rest } = message;
  return { ...rest, headers: { ...message.headers } };
}
