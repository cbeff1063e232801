/**
 * An in-process stand-in for RabbitMQ with the semantics the bus relies on: topic exchanges,
 * queues with round-robin consumers and prefetch, unacked deliveries returned (redelivered)
 * when their consumer goes away, per-message expiration. One broker is shared by all the
 * MemoryBus instances of an all-in-one process, as RabbitMQ is shared by services.
 */
import { topicMatches } from './topology';
import type { WireMessage } from './transport';

export interface StoredMessage extends WireMessage {
  redelivered: boolean;
  expiresAt?: number;
}

/**
 * Runs the broker's deliveries one per event-loop turn, so that I/O (requests to the services
 * sharing this broker) is handled between them instead of waiting behind every message queued
 * at once: with RabbitMQ a process gets the same interleaving, its deliveries arriving as
 * socket reads among its other I/O. A delivery's handler runs until its first real await, and
 * with an in-process database (SQLite) that may be the whole handler.
 */
export interface DeliveryPolicy {
  /**
   * True while work that should go first is waiting (the all-in-one: HTTP requests in
   * flight). Deliveries then wait, but never more than maxWaitMs: background work is slowed
   * by a burst of requests, never stopped.
   */
  yieldTo?: () => boolean;
  maxWaitMs?: number;
}

export class DeliveryPump {
  private readonly tasks: (() => void)[] = [];
  private scheduled = false;
  /** When the first delivery now waiting began to wait for yieldTo. */
  private waitingSince: number | null = null;

  constructor(private readonly policy: DeliveryPolicy = {}) {}

  push(task: () => void): void {
    this.tasks.push(task);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    this.scheduled = false;
    if (this.tasks.length > 0 && this.policy.yieldTo?.()) {
      const now = performance.now();
      this.waitingSince ??= now;
      if (now - this.waitingSince < (this.policy.maxWaitMs ?? 20)) {
        this.scheduled = true;
        setTimeout(this.run, 1);
        return;
      }
    }
    this.waitingSince = null;
    const task = this.tasks.shift();
    if (this.tasks.length > 0) {
      // Queued from inside a check-phase callback: it runs on the next turn, after I/O.
      this.scheduled = true;
      setImmediate(this.run);
    }
    task?.();
  };
}

export class MemoryConsumer {
  private readonly unacked = new Set<StoredMessage>();
  private active = true;
  private open = true;

  constructor(
    private readonly queue: MemoryQueue,
    private readonly prefetch: number,
    private readonly noAck: boolean,
    private readonly onMessage: (message: StoredMessage) => void,
    private readonly pump: DeliveryPump,
  ) {}

  get isOpen(): boolean {
    return this.open;
  }

  hasCapacity(): boolean {
    return this.active && (this.noAck || this.prefetch <= 0 || this.unacked.size < this.prefetch);
  }

  deliver(message: StoredMessage): void {
    if (!this.noAck) this.unacked.add(message);
    this.pump.push(() => {
      if (this.open) this.onMessage(message);
    });
  }

  ack(message: StoredMessage): void {
    if (this.unacked.delete(message)) this.queue.schedule();
  }

  nack(message: StoredMessage, requeue: boolean): void {
    if (!this.unacked.delete(message)) return;
    if (requeue) this.queue.enqueue({ ...message, redelivered: true }, true);
    this.queue.schedule();
  }

  /** No new deliveries; unacked ones can still be settled. */
  stop(): void {
    this.active = false;
    this.queue.removeConsumer(this);
  }

  /** Gone: unacked deliveries go back to the head of the queue, marked redelivered. */
  close(): void {
    this.stop();
    this.open = false;
    const back = [...this.unacked].reverse();
    this.unacked.clear();
    for (const message of back) this.queue.enqueue({ ...message, redelivered: true }, true);
    this.queue.schedule();
  }
}

export class MemoryQueue {
  private readonly messages: StoredMessage[] = [];
  private consumers: MemoryConsumer[] = [];
  private next = 0;
  private scheduled = false;

  constructor(
    readonly name: string,
    readonly exclusive: boolean,
  ) {}

  get depth(): number {
    return this.messages.length;
  }

  enqueue(message: StoredMessage, atHead = false): void {
    if (atHead) this.messages.unshift(message);
    else this.messages.push(message);
    this.schedule();
  }

  take(): StoredMessage | undefined {
    this.dropExpired();
    return this.messages.shift();
  }

  addConsumer(consumer: MemoryConsumer): void {
    this.consumers.push(consumer);
    this.schedule();
  }

  removeConsumer(consumer: MemoryConsumer): void {
    this.consumers = this.consumers.filter((c) => c !== consumer);
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (;;) {
      this.dropExpired();
      if (this.messages.length === 0) return;
      const consumer = this.nextConsumer();
      if (!consumer) return;
      consumer.deliver(this.messages.shift()!);
    }
  }

  private nextConsumer(): MemoryConsumer | undefined {
    for (let i = 0; i < this.consumers.length; i++) {
      const candidate = this.consumers[(this.next + i) % this.consumers.length]!;
      if (candidate.hasCapacity()) {
        this.next = (this.next + i + 1) % this.consumers.length;
        return candidate;
      }
    }
    return undefined;
  }

  private dropExpired(): void {
    const now = Date.now();
    while (this.messages.length > 0 && (this.messages[0]!.expiresAt ?? Infinity) <= now)
      this.messages.shift();
  }
}

const ROUTES_KEPT = 10_000;

export class MemoryBroker {
  private readonly exchanges = new Map<string, Array<{ queue: string; pattern: string }>>();
  private readonly queues = new Map<string, MemoryQueue>();
  private readonly pump: DeliveryPump;
  /**
   * The queues each exchange and routing key reached, so that a publish matches the topic
   * patterns once per key, not once per message; dropped whenever a binding changes. The keys
   * are message types and host names, a bounded set (capped here all the same).
   */
  private readonly routes = new Map<string, string[]>();

  constructor(policy: DeliveryPolicy = {}) {
    this.pump = new DeliveryPump(policy);
  }

  assertExchange(name: string): void {
    if (!this.exchanges.has(name)) this.exchanges.set(name, []);
  }

  assertQueue(name: string, exclusive = false): MemoryQueue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new MemoryQueue(name, exclusive);
      this.queues.set(name, queue);
    }
    return queue;
  }

  bindQueue(queue: string, exchange: string, pattern: string): void {
    const bindings = this.exchanges.get(exchange);
    if (!bindings) throw new Error(`no exchange '${exchange}'`);
    if (!this.queues.has(queue)) throw new Error(`no queue '${queue}'`);
    if (!bindings.some((b) => b.queue === queue && b.pattern === pattern)) {
      bindings.push({ queue, pattern });
      this.routes.clear();
    }
  }

  /** Routes a copy of the message to every matching queue; returns how many received it. */
  publish(exchange: string, routingKey: string, message: WireMessage): number {
    let targets: string[];
    if (exchange === '') {
      targets = this.queues.has(routingKey) ? [routingKey] : [];
    } else {
      const bindings = this.exchanges.get(exchange);
      if (!bindings) throw new Error(`no exchange '${exchange}'`);
      const route = `${exchange}\n${routingKey}`;
      let known = this.routes.get(route);
      if (!known) {
        known = [...new Set(bindings.filter((b) => topicMatches(b.pattern, routingKey)).map((b) => b.queue))];
        if (this.routes.size >= ROUTES_KEPT) this.routes.clear();
        this.routes.set(route, known);
      }
      targets = known;
    }
    for (const name of targets) {
      const stored: StoredMessage = {
        ...message,
        body: Buffer.from(message.body),
        headers: structuredClone(message.headers),
        redelivered: false,
        ...(message.expirationMs !== undefined ? { expiresAt: Date.now() + message.expirationMs } : {}),
      };
      this.queues.get(name)?.enqueue(stored);
    }
    return targets.length;
  }

  consume(
    queue: string,
    options: { prefetch: number; noAck: boolean },
    onMessage: (message: StoredMessage) => void,
  ): MemoryConsumer {
    const q = this.queues.get(queue);
    if (!q) throw new Error(`no queue '${queue}'`);
    const consumer = new MemoryConsumer(q, options.prefetch, options.noAck, onMessage, this.pump);
    q.addConsumer(consumer);
    return consumer;
  }

  /** Takes the head message of a queue (basic.get); undefined when empty or missing. */
  get(queue: string): StoredMessage | undefined {
    return this.queues.get(queue)?.take();
  }

  /** Messages ready in a queue (not counting unacked ones). */
  depth(queue: string): number {
    return this.queues.get(queue)?.depth ?? 0;
  }

  deleteQueue(name: string): void {
    this.queues.delete(name);
    this.routes.clear();
    for (const bindings of this.exchanges.values()) {
      for (let i = bindings.length - 1; i >= 0; i--) if (bindings[i]!.queue === name) bindings.splice(i, 1);
    }
  }
}
