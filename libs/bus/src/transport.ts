/**
 * The small broker-facing port under BrokerBus. AmqpTransport speaks to RabbitMQ (and owns
 * reconnection); MemoryTransport to an in-process MemoryBroker. Everything above it (envelopes,
 * acks, retries, dead-lettering, RPC) is shared, so both buses behave the same.
 */

/** A message as the broker carries it. */
export interface WireMessage {
  body: Buffer;
  messageId: string;
  /** The envelope type, copied to the broker's `type` property for tooling. */
  type: string;
  persistent: boolean;
  headers: Record<string, unknown>;
  correlationId?: string;
  replyTo?: string;
  /** Dropped by the broker if not consumed within this time. */
  expirationMs?: number;
}

export interface ReceivedMessage extends WireMessage {
  redelivered: boolean;
}

export interface Delivery {
  readonly message: ReceivedMessage;
  /** False once the channel it came on is gone: the broker will redeliver it, do not settle. */
  readonly alive: boolean;
  ack(): void;
  /** Returns it to the queue (requeue) or drops it. */
  nack(requeue: boolean): void;
}

export interface QueueDeclaration {
  name: string;
  /** Exclusive queues (RPC replies) die with their connection; the others are durable. */
  exclusive: boolean;
  bindings: ReadonlyArray<{ exchange: string; pattern: string }>;
}

/** Declared again on every (re)connect before consuming. */
export interface ConsumerSpec {
  queue: string;
  /** Topic exchanges to declare (durable). */
  exchanges: readonly string[];
  queues: readonly QueueDeclaration[];
  prefetch: number;
  /** Deliveries count as acked when sent (RPC replies only). */
  noAck: boolean;
}

export interface TransportConsumer {
  /** Stops new deliveries; deliveries in flight can still be settled. */
  stop(): Promise<void>;
  /** Releases the consumer (its channel); unsettled deliveries go back to the queue. */
  close(): Promise<void>;
}

export interface PublishTarget {
  /** '' is the default exchange: the routing key is a queue name. */
  exchange: string;
  routingKey: string;
  /** Reject with Unroutable when no queue is bound. */
  mandatory: boolean;
  /** Epoch ms: give up waiting for a connection or confirm after it ('Unavailable'). */
  deadline: number;
}

export interface Transport {
  /** Resolves once the broker confirmed the message; waits for a connection up to the deadline. */
  publish(target: PublishTarget, message: WireMessage): Promise<void>;
  consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void): Promise<TransportConsumer>;
  /** One message from a durable queue (declared if missing), or undefined when empty. */
  get(queue: string, deadline: number): Promise<Delivery | undefined>;
  isReady(): boolean;
  ping(): Promise<boolean>;
  /** Drops the connection at once; unacked deliveries go back to their queues. */
  close(): Promise<void>;
}

/** Thrown by Transport.publish for a mandatory message no queue was bound to receive. */
export class UnroutableError extends Error {
  constructor(
    readonly exchange: string,
    readonly routingKey: string,
  ) {
    super(`no queue is bound to routing key '${routingKey}' on exchange '${exchange || '(default)'}'`);
    this.name = 'UnroutableError';
  }
}
