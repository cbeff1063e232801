/**
 * Transport over RabbitMQ (amqplib). Owns the connection: reconnects with capped exponential
 * backoff whenever the connection or any of its channels drops, redeclares the topology and
 * resumes every consumer before reporting ready again. Publishing goes through one confirm
 * channel; a publish made while disconnected waits for the next connection (up to its
 * deadline) and is resent if its confirm was lost with the channel. Each consumer has its own
 * channel so that its prefetch is its own.
 */
import * as amqp from 'amqplib';
import type {
  Channel,
  ChannelModel,
  ConfirmChannel,
  ConsumeMessage,
  GetMessage,
  Message,
  Options,
} from 'amqplib';
import { AppError } from '@strato/errors';
import type { Logger } from '@strato/log';
import { backoffDelay } from './backoff';
import {
  UnroutableError,
  type ConsumerSpec,
  type Delivery,
  type PublishTarget,
  type ReceivedMessage,
  type Transport,
  type TransportConsumer,
  type WireMessage,
} from './transport';

export interface AmqpTransportOptions {
  /** amqp://user:pass@host:5672/vhost */
  url: string;
  log: Logger;
  /** AMQP heartbeat (default 10 s): how soon a silent dead connection is noticed. */
  heartbeatSeconds?: number;
  /** First reconnect delay (default 200 ms), doubled per failed attempt up to maxDelayMs. */
  reconnectInitialDelayMs?: number;
  /** Reconnect delay cap (default 10 s). */
  reconnectMaxDelayMs?: number;
  /** How long consume() waits for a connection before failing (default 30 s). */
  setupTimeoutMs?: number;
}

interface Session {
  readonly model: ChannelModel;
  readonly publisher: ConfirmChannel;
  alive: boolean;
  readonly exchanges: Set<string>;
  /** messageIds the broker returned as unroutable, until their confirm arrives. */
  readonly returned: Set<string>;
}

interface ConsumerEntry {
  readonly spec: ConsumerSpec;
  readonly onDelivery: (delivery: Delivery) => void;
  session?: Session;
  channel?: Channel;
  tag?: string;
  /** Set once stop() ran: not resumed after a reconnect. */
  stopped: boolean;
}

interface Waiter {
  resolve(session: Session): void;
  reject(error: AppError): void;
  timer: NodeJS.Timeout;
}

export class AmqpTransport implements Transport {
  private readonly log: Logger;
  private readonly url: string;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly setupTimeoutMs: number;

  private session: Session | undefined;
  private connecting = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private readonly consumers = new Set<ConsumerEntry>();
  private waiters: Waiter[] = [];

  constructor(options: AmqpTransportOptions) {
    this.log = options.log;
    const url = new URL(options.url);
    if (!url.searchParams.has('heartbeat'))
      url.searchParams.set('heartbeat', String(options.heartbeatSeconds ?? 10));
    this.url = url.toString();
    this.initialDelayMs = options.reconnectInitialDelayMs ?? 200;
    this.maxDelayMs = options.reconnectMaxDelayMs ?? 10_000;
    this.setupTimeoutMs = options.setupTimeoutMs ?? 30_000;
  }

  async publish(target: PublishTarget, message: WireMessage): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.ready(target.deadline);
      try {
        if (target.exchange !== '' && !session.exchanges.has(target.exchange)) {
          await session.publisher.assertExchange(target.exchange, 'topic', { durable: true });
          session.exchanges.add(target.exchange);
        }
        await confirmPublish(session, target, message);
        return;
      } catch (err) {
        if (err instanceof UnroutableError) throw err;
        this.log.warn(
          { err, attempt, messageId: message.messageId },
          'publish not confirmed; resending after reconnect',
        );
        this.lost(session, 'publish failed');
      }
    }
  }

  async consume(spec: ConsumerSpec, onDelivery: (delivery: Delivery) => void): Promise<TransportConsumer> {
    const entry: ConsumerEntry = { spec, onDelivery, stopped: false };
    this.consumers.add(entry);
    const deadline = Date.now() + this.setupTimeoutMs;
    try {
      for (;;) {
        const session = await this.ready(deadline);
        if (entry.session === session) break; // started by the (re)connect itself
        try {
          await this.startConsumer(session, entry);
          break;
        } catch (err) {
          if (session.alive) throw err; // a real refusal (e.g. queue declared differently)
        }
      }
    } catch (err) {
      this.consumers.delete(entry);
      throw err instanceof AppError
        ? err
        : new AppError('Unavailable', `cannot consume ${spec.queue}: ${String(err)}`);
    }
    return {
      stop: async () => {
        entry.stopped = true;
        const { channel, tag } = entry;
        if (channel && tag && entry.session?.alive) await channel.cancel(tag).catch(() => undefined);
      },
      close: async () => {
        entry.stopped = true;
        this.consumers.delete(entry);
        const channel = entry.channel;
        entry.channel = undefined;
        if (channel && entry.session?.alive) await channel.close().catch(() => undefined);
      },
    };
  }

  async get(queue: string, deadline: number): Promise<Delivery | undefined> {
    for (;;) {
      const session = await this.ready(deadline);
      try {
        await session.publisher.assertQueue(queue, { durable: true });
        const message = await session.publisher.get(queue, { noAck: false });
        if (message === false) return undefined;
        return toDelivery(session, session.publisher, message, () => true);
      } catch (err) {
        if (!session.alive) continue;
        this.lost(session, 'basic.get failed');
        throw new AppError('Unavailable', `cannot read ${queue}: ${String(err)}`);
      }
    }
  }

  /** Connected now. Asking also starts connecting when idle, so a probe brings the connection up. */
  isReady(): boolean {
    if (this.closed) return false;
    if (this.session?.alive) return true;
    this.connect();
    return false;
  }

  /** A round trip to the broker; an idle transport connects first (waiting up to 2 s). */
  async ping(): Promise<boolean> {
    if (this.closed) return false;
    const session = await this.ready(Date.now() + 2_000).catch(() => undefined);
    if (!session?.alive) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('ping timed out')), 2_000);
      });
      await Promise.race([session.publisher.checkExchange('amq.topic'), timeout]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new AppError('Unavailable', 'the bus is closed'));
    }
    const session = this.session;
    this.session = undefined;
    if (session) {
      session.alive = false;
      await session.model.close().catch(() => undefined);
    }
  }

  /** The live session, connecting if needed; rejects 'Unavailable' at the deadline. */
  private ready(deadline: number): Promise<Session> {
    if (this.closed) return Promise.reject(new AppError('Unavailable', 'the bus is closed'));
    if (this.session?.alive) return Promise.resolve(this.session);
    this.connect();
    return new Promise<Session>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(
          () => {
            this.waiters = this.waiters.filter((w) => w !== waiter);
            reject(new AppError('Unavailable', 'message broker unavailable'));
          },
          Math.max(0, deadline - Date.now()),
        ),
      };
      this.waiters.push(waiter);
    });
  }

  private connect(): void {
    if (this.connecting || this.closed) return;
    this.connecting = true;
    void this.connectLoop().finally(() => {
      this.connecting = false;
    });
  }

  private async connectLoop(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        const session = await this.open();
        if (this.closed || !session.alive) {
          session.alive = false;
          await session.model.close().catch(() => undefined);
          continue;
        }
        this.session = session;
        this.log.info({ attempt }, 'connected to the message broker');
        for (const waiter of this.waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.resolve(session);
        }
        return;
      } catch (err) {
        const delayMs = backoffDelay(attempt, this.initialDelayMs, this.maxDelayMs);
        this.log.warn({ err, attempt, delayMs }, 'cannot connect to the message broker; retrying');
        await new Promise<void>((resolve) => {
          this.wakeRetry = resolve;
          this.retryTimer = setTimeout(resolve, delayMs);
        });
      }
    }
  }

  /** Connects, opens the confirm channel and resumes every consumer. */
  private async open(): Promise<Session> {
    const model = await amqp.connect(this.url);
    try {
      const publisher = await model.createConfirmChannel();
      const session: Session = { model, publisher, alive: true, exchanges: new Set(), returned: new Set() };
      model.on('error', (err: unknown) => this.log.warn({ err }, 'broker connection error'));
      model.on('close', () => this.lost(session, 'connection closed'));
      publisher.on('error', (err: unknown) => this.log.warn({ err }, 'publish channel error'));
      publisher.on('close', () => this.lost(session, 'publish channel closed'));
      publisher.on('return', (msg: Message) => {
        const id = msg.properties.messageId as unknown;
        if (typeof id === 'string') session.returned.add(id);
      });
      for (const entry of this.consumers) {
        if (!entry.stopped) await this.startConsumer(session, entry);
      }
      return session;
    } catch (err) {
      await model.close().catch(() => undefined);
      throw err;
    }
  }

  private async startConsumer(session: Session, entry: ConsumerEntry): Promise<void> {
    const { spec } = entry;
    const channel = await session.model.createChannel();
    let open = true;
    let started = false;
    channel.on('error', (err: unknown) =>
      this.log.warn({ err, queue: spec.queue }, 'consumer channel error'),
    );
    channel.on('close', () => {
      open = false;
      // a consumer channel lost on its own takes the connection down with it, so that the
      // reconnect path (the one tested path) resumes everything
      if (started && entry.channel === channel && !entry.stopped)
        this.lost(session, `consumer channel of ${spec.queue} closed`);
    });
    try {
      for (const exchange of spec.exchanges)
        await channel.assertExchange(exchange, 'topic', { durable: true });
      for (const queue of spec.queues) {
        await channel.assertQueue(
          queue.name,
          queue.exclusive ? { exclusive: true, autoDelete: true, durable: false } : { durable: true },
        );
        for (const b of queue.bindings) await channel.bindQueue(queue.name, b.exchange, b.pattern);
      }
      if (!spec.noAck && spec.prefetch > 0) await channel.prefetch(spec.prefetch);
      const { consumerTag } = await channel.consume(
        spec.queue,
        (msg) => {
          if (msg === null) {
            this.lost(session, `consumer of ${spec.queue} cancelled by the broker`);
            return;
          }
          entry.onDelivery(toDelivery(session, channel, msg, () => open, spec.noAck));
        },
        { noAck: spec.noAck },
      );
      entry.session = session;
      entry.channel = channel;
      entry.tag = consumerTag;
      started = true;
    } catch (err) {
      await channel.close().catch(() => undefined);
      throw err;
    }
  }

  /** The session is unusable: tear it down and reconnect (unless closed). */
  private lost(session: Session, reason: string): void {
    if (!session.alive) return;
    session.alive = false;
    void session.model.close().catch(() => undefined);
    if (this.session !== session) return;
    this.session = undefined;
    if (this.closed) return;
    this.log.warn({ reason }, 'lost the message broker; reconnecting');
    this.connect();
  }
}

function confirmPublish(session: Session, target: PublishTarget, message: WireMessage): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const options: Options.Publish = {
      messageId: message.messageId,
      type: message.type,
      persistent: message.persistent,
      headers: message.headers,
      contentType: 'application/json',
      mandatory: target.mandatory,
      ...(message.correlationId !== undefined ? { correlationId: message.correlationId } : {}),
      ...(message.replyTo !== undefined ? { replyTo: message.replyTo } : {}),
      ...(message.expirationMs !== undefined ? { expiration: String(message.expirationMs) } : {}),
    };
    try {
      session.publisher.publish(target.exchange, target.routingKey, message.body, options, (err: unknown) => {
        // the broker sends basic.return before the confirm of the same message
        const returned = session.returned.delete(message.messageId);
        if (err) reject(err instanceof Error ? err : new Error('publish not confirmed'));
        else if (returned && target.mandatory)
          reject(new UnroutableError(target.exchange, target.routingKey));
        else resolve();
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error('publish failed'));
    }
  });
}

function toDelivery(
  session: Session,
  channel: Channel,
  msg: ConsumeMessage | GetMessage,
  channelOpen: () => boolean,
  noAck = false,
): Delivery {
  const p = msg.properties;
  const message: ReceivedMessage = {
    body: msg.content,
    messageId: typeof p.messageId === 'string' ? p.messageId : '',
    type: typeof p.type === 'string' ? p.type : '',
    persistent: p.deliveryMode === 2,
    headers: { ...(p.headers ?? {}) },
    redelivered: msg.fields.redelivered,
    ...(typeof p.correlationId === 'string' ? { correlationId: p.correlationId } : {}),
    ...(typeof p.replyTo === 'string' ? { replyTo: p.replyTo } : {}),
  };
  const alive = () => session.alive && channelOpen();
  return {
    message,
    get alive() {
      return alive();
    },
    ack: () => {
      if (!noAck && alive()) channel.ack(msg);
    },
    nack: (requeue) => {
      if (!noAck && alive()) channel.nack(msg, false, requeue);
    },
  };
}
