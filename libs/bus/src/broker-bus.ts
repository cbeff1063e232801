/**
 * The Bus on top of a Transport: envelopes, ack-after-handler, bounded retries, dead-lettering,
 * RPC and graceful close. AmqpBus and MemoryBus are this class over their transports, so
 * they cannot drift apart.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { AppError, toAppError } from '@strato/errors';
import type { Logger } from '@strato/log';
import type {
  Bus,
  CallOptions,
  ConsumeOptions,
  DeadLetter,
  Handler,
  PublishOptions,
  RpcHandler,
  ServeOptions,
  Subscription,
} from './bus';
import { backoffDelay, sleep } from './backoff';
import { deadLetterCopy, readDeadLetter, retryCopy } from './dead-letter';
import { decideOnFailure, parseMessage, runHandler, type Decision } from './delivery';
import {
  createEnvelope,
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  type OutgoingMessage,
} from './envelope';
import { errorReply, okReply, replyType, unwrapReply, type ReplyPayload } from './rpc';
import { ActiveSubscription } from './subscription';
import { dlqName, dlxName } from './topology';
import {
  UnroutableError,
  type ConsumerSpec,
  type Delivery,
  type PublishTarget,
  type Transport,
  type TransportConsumer,
  type WireMessage,
} from './transport';

export interface BusOptions {
  /** Sender name written in every envelope, e.g. 'scheduler' or 'compute-agent@node1'. */
  service: string;
  log: Logger;
  /** Default topic exchange (default 'strato'). */
  exchange?: string;
  /** Deliveries in flight per consumer (default 10). */
  prefetch?: number;
  /** Deliveries before a message failing with retryable errors is dead-lettered (default 5). */
  maxDeliveries?: number;
  /** Delay before requeueing after a retryable error, doubled per delivery (default 100 ms). */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** How long publish waits for a connection and the broker's confirm (default 30 s). */
  publishTimeoutMs?: number;
  /** Default RPC timeout (default 30 s). */
  callTimeoutMs?: number;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: AppError): void;
  timer?: NodeJS.Timeout;
  schema?: z.ZodType<unknown>;
}

const QUEUE_NAME = /^[A-Za-z0-9_.:-]{1,200}$/;
const SAFE_TYPE = /^[A-Za-z0-9_.-]{1,200}$/;

export class BrokerBus implements Bus {
  protected readonly log: Logger;
  private readonly service: string;
  private readonly exchange: string;
  private readonly prefetch: number;
  private readonly maxDeliveries: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly publishTimeoutMs: number;
  private readonly callTimeoutMs: number;

  private state: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | undefined;
  private readonly subscriptions = new Set<ActiveSubscription>();
  private readonly publishes = new Set<Promise<void>>();
  private readonly pending = new Map<string, PendingCall>();
  private replies: Promise<{ queue: string; consumer: TransportConsumer }> | undefined;

  constructor(
    private readonly transport: Transport,
    options: BusOptions,
  ) {
    this.log = options.log;
    this.service = options.service;
    this.exchange = options.exchange ?? 'strato';
    this.prefetch = options.prefetch ?? 10;
    this.maxDeliveries = options.maxDeliveries ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 30_000;
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
  }

  async publish<T>(routingKey: string, message: OutgoingMessage<T>, options: PublishOptions = {}) {
    if (this.state === 'closed') throw closedError();
    const envelope = createEnvelope(message, this.service);
    const target: PublishTarget = {
      exchange: options.exchange ?? this.exchange,
      routingKey,
      mandatory: options.mandatory ?? true,
      deadline: Date.now() + (options.timeoutMs ?? this.publishTimeoutMs),
    };
    const wire: WireMessage = {
      body: encodeEnvelope(envelope),
      messageId: envelope.id,
      type: envelope.type,
      persistent: options.persistent ?? true,
      headers: {},
    };
    try {
      await this.track(this.transport.publish(target, wire));
    } catch (err) {
      if (err instanceof UnroutableError) throw new AppError('Unavailable', err.message);
      throw toAppError(err);
    }
    return envelope;
  }

  async consume<T>(
    queue: string,
    handler: Handler<T>,
    options: ConsumeOptions<T> = {},
  ): Promise<Subscription> {
    const exchange = options.exchange ?? this.exchange;
    const maxDeliveries = options.maxDeliveries ?? this.maxDeliveries;
    const spec = this.consumerSpec(queue, exchange, options.bindings, options.prefetch);
    return this.subscribe(spec, async (delivery) => {
      const parsed = parseMessage(queue, delivery.message, options.schema);
      if (!parsed.ok) {
        this.log.warn({ queue, err: parsed.error }, 'poison message: dead-lettering it');
        return this.settle(
          exchange,
          queue,
          delivery,
          decideOnFailure(parsed.error, parsed.context.deliveries, 1),
        );
      }
      const outcome = await runHandler(parsed.envelope, parsed.context, handler);
      if (outcome.ok) return this.settle(exchange, queue, delivery, { action: 'ack' });
      const decision = decideOnFailure(outcome.error, parsed.context.deliveries, maxDeliveries);
      this.log.warn(
        {
          queue,
          messageId: parsed.envelope.id,
          type: parsed.envelope.type,
          err: outcome.error,
          action: decision.action,
        },
        'message handler failed',
      );
      return this.settle(exchange, queue, delivery, decision);
    });
  }

  async serve<Req, Res>(
    queue: string,
    handler: RpcHandler<Req, Res>,
    options: ServeOptions<Req> = {},
  ): Promise<Subscription> {
    const exchange = options.exchange ?? this.exchange;
    const spec = this.consumerSpec(queue, exchange, options.bindings, options.prefetch);
    return this.subscribe(spec, async (delivery) => {
      const parsed = parseMessage(queue, delivery.message, options.schema);
      let reply: ReplyPayload;
      let decision: Decision = { action: 'ack' };
      if (!parsed.ok) {
        this.log.warn(
          { queue, err: parsed.error },
          'poison RPC request: replying Invalid and dead-lettering it',
        );
        reply = errorReply(parsed.error);
        decision = decideOnFailure(parsed.error, parsed.context.deliveries, 1);
      } else {
        const outcome = await runHandler(parsed.envelope, parsed.context, handler);
        reply = outcome.ok ? okReply(outcome.value) : errorReply(outcome.error);
      }
      if (delivery.alive) await this.reply(delivery, parsed.ok ? parsed.envelope : undefined, reply);
      return this.settle(exchange, queue, delivery, decision);
    });
  }

  async call<Req, Res = unknown>(
    target: string,
    message: OutgoingMessage<Req>,
    options: CallOptions<Res> = {},
  ): Promise<Res> {
    if (this.state !== 'open') throw closedError();
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const envelope = createEnvelope(message, this.service);
    const replyTo = await this.replyQueue();
    let entry!: PendingCall;
    const result = new Promise<unknown>((resolve, reject) => {
      entry = { resolve, reject, ...(options.schema ? { schema: options.schema } : {}) };
    });
    void result.catch(() => undefined); // settled by a reply, the timer or close(); awaited below
    this.pending.set(envelope.id, entry);
    try {
      const wire: WireMessage = {
        body: encodeEnvelope(envelope),
        messageId: envelope.id,
        type: envelope.type,
        persistent: false,
        headers: {},
        correlationId: envelope.id,
        replyTo,
        // Expires when the caller stops waiting (time spent getting here included).
        expirationMs: Math.max(1, deadline - Date.now()),
      };
      const routed = {
        exchange: options.exchange ?? this.exchange,
        routingKey: target,
        mandatory: true,
        deadline,
      };
      await this.track(this.transport.publish(routed, wire));
    } catch (err) {
      this.pending.delete(envelope.id);
      if (err instanceof UnroutableError)
        throw new AppError('Unavailable', `no server is listening on '${target}'`);
      throw toAppError(err);
    }
    entry.timer = setTimeout(
      () => {
        if (this.pending.delete(envelope.id)) {
          entry.reject(
            new AppError('Timeout', `call ${envelope.type} to '${target}' timed out after ${timeoutMs} ms`),
          );
        }
      },
      Math.max(0, deadline - Date.now()),
    );
    return (await result) as Res;
  }

  async takeDeadLetters(queue: string, max = 100): Promise<DeadLetter[]> {
    if (this.state === 'closed') throw closedError();
    const letters: DeadLetter[] = [];
    const deadline = Date.now() + this.publishTimeoutMs;
    while (letters.length < max) {
      const delivery = await this.transport.get(dlqName(queue), deadline);
      if (!delivery) break;
      letters.push(readDeadLetter(delivery.message, queue));
      delivery.ack();
    }
    return letters;
  }

  isReady(): boolean {
    return this.state !== 'closed' && this.transport.isReady();
  }

  async ping(): Promise<boolean> {
    return this.state !== 'closed' && this.transport.ping();
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  /**
   * Drops the connection at once, as a crashed process would: nothing more is acked, unacked
   * deliveries go back to the broker for another consumer. For tests and fault drills.
   */
  async abandon(): Promise<void> {
    this.state = 'closed';
    this.failPendingCalls();
    await this.transport.close();
  }

  private async shutDown(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    await Promise.allSettled([...this.subscriptions].map((sub) => sub.cancel()));
    this.failPendingCalls();
    const replies = await this.replies?.catch(() => undefined);
    await replies?.consumer.close().catch(() => undefined);
    while (this.publishes.size > 0) await Promise.allSettled([...this.publishes]);
    this.state = 'closed';
    await this.transport.close();
  }

  private failPendingCalls(): void {
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      clearTimeout(entry.timer);
      entry.reject(new AppError('Unavailable', 'the bus was closed before the reply arrived'));
    }
  }

  private track(publish: Promise<void>): Promise<void> {
    const settled = publish.catch(() => undefined);
    this.publishes.add(settled);
    void settled.then(() => this.publishes.delete(settled));
    return publish;
  }

  private consumerSpec(
    queue: string,
    exchange: string,
    bindings: readonly string[] = [queue],
    prefetch = this.prefetch,
  ): ConsumerSpec {
    if (!QUEUE_NAME.test(queue)) throw new AppError('Invalid', `invalid queue name '${queue}'`);
    const dlx = dlxName(exchange);
    return {
      queue,
      prefetch,
      noAck: false,
      exchanges: [exchange, dlx],
      queues: [
        { name: queue, exclusive: false, bindings: bindings.map((pattern) => ({ exchange, pattern })) },
        { name: dlqName(queue), exclusive: false, bindings: [{ exchange: dlx, pattern: queue }] },
      ],
    };
  }

  private async subscribe(
    spec: ConsumerSpec,
    work: (delivery: Delivery) => Promise<void>,
  ): Promise<Subscription> {
    if (this.state !== 'open') throw closedError();
    const sub = new ActiveSubscription(spec.queue, this.log, (s) => this.subscriptions.delete(s));
    this.subscriptions.add(sub);
    try {
      sub.consumer = await this.transport.consume(spec, (delivery) => {
        sub.track(
          work(delivery).catch((err: unknown) => {
            this.log.error(
              { err, queue: spec.queue },
              'message processing failed; returning it to the queue',
            );
            if (delivery.alive) delivery.nack(true);
          }),
        );
      });
    } catch (err) {
      this.subscriptions.delete(sub);
      throw toAppError(err);
    }
    return sub;
  }

  /** Acks, requeues a counted copy, or dead-letters; the copy is confirmed before the ack. */
  private async settle(
    exchange: string,
    queue: string,
    delivery: Delivery,
    decision: Decision,
  ): Promise<void> {
    if (!delivery.alive) return; // its channel died: the broker redelivers it
    const deadline = Date.now() + this.publishTimeoutMs;
    try {
      switch (decision.action) {
        case 'ack':
          break;
        case 'retry':
          await sleep(backoffDelay(decision.deliveries, this.retryDelayMs, this.maxRetryDelayMs));
          if (!delivery.alive) return;
          await this.transport.publish(
            { exchange: '', routingKey: queue, mandatory: false, deadline },
            retryCopy(delivery.message, decision.deliveries),
          );
          break;
        case 'dead-letter':
          await this.transport.publish(
            { exchange: dlxName(exchange), routingKey: queue, mandatory: true, deadline },
            deadLetterCopy(delivery.message, queue, decision.reason, decision.error, decision.deliveries),
          );
          this.log.warn(
            { queue, messageId: delivery.message.messageId, reason: decision.reason },
            'dead-lettered',
          );
          break;
      }
      delivery.ack();
    } catch (err) {
      this.log.error({ err, queue }, 'could not requeue or dead-letter a message; returning it to the queue');
      if (delivery.alive) delivery.nack(true);
    }
  }

  private async reply(delivery: Delivery, request: Envelope<unknown> | undefined, payload: ReplyPayload) {
    const { replyTo, correlationId, messageId, type } = delivery.message;
    if (!replyTo) return;
    try {
      const requestType = request?.type ?? (SAFE_TYPE.test(type) ? type : 'unknown');
      const envelope = createEnvelope(
        {
          type: replyType(requestType),
          version: request?.version ?? 1,
          payload,
          ...(request ? { requestId: request.requestId } : {}),
        },
        this.service,
      );
      await this.transport.publish(
        { exchange: '', routingKey: replyTo, mandatory: false, deadline: Date.now() + this.publishTimeoutMs },
        {
          body: encodeEnvelope(envelope),
          messageId: envelope.id,
          type: envelope.type,
          persistent: false,
          headers: {},
          correlationId: correlationId ?? messageId,
        },
      );
    } catch (err) {
      this.log.error({ err, replyTo }, 'could not send RPC reply');
    }
  }

  private replyQueue(): Promise<string> {
    this.replies ??= (async () => {
      const queue = `${this.service}.reply.${randomUUID()}`.replace(/[^A-Za-z0-9_.:-]/g, '_');
      const consumer = await this.transport.consume(
        {
          queue,
          exchanges: [],
          queues: [{ name: queue, exclusive: true, bindings: [] }],
          prefetch: 0,
          noAck: true,
        },
        (delivery) => this.onReply(delivery),
      );
      return { queue, consumer };
    })();
    return this.replies.then(
      (r) => r.queue,
      (err: unknown) => {
        this.replies = undefined;
        throw toAppError(err);
      },
    );
  }

  private onReply(delivery: Delivery): void {
    const { correlationId, body } = delivery.message;
    const entry = correlationId === undefined ? undefined : this.pending.get(correlationId);
    if (!entry || correlationId === undefined) {
      this.log.debug({ correlationId }, 'reply for no pending call (late or duplicate); dropped');
      return;
    }
    this.pending.delete(correlationId);
    clearTimeout(entry.timer);
    let result: unknown;
    try {
      result = unwrapReply(decodeEnvelope(body).payload);
    } catch (err) {
      entry.reject(
        isErrorKind(err) ? toAppError(err) : new AppError('Invalid', `malformed RPC reply: ${String(err)}`),
      );
      return;
    }
    if (!entry.schema) return entry.resolve(result);
    const parsed = entry.schema.safeParse(result);
    if (parsed.success) entry.resolve(parsed.data);
    else entry.reject(new AppError('Invalid', `RPC result failed its schema: ${parsed.error.message}`));
  }
}

function isErrorKind(err: unknown): boolean {
  return err instanceof AppError;
}

function closedError(): AppError {
  return new AppError('Unavailable', 'the bus is closed');
}
