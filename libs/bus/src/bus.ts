/**
 * The message bus contract. Two implementations share it and one contract test suite:
 * AmqpBus (RabbitMQ) for deployments and MemoryBus (in-process) for the all-in-one.
 *
 * Semantics, identical in both:
 * - Messages travel in a validated Envelope; publish resolves only once the broker has
 *   confirmed the message (persistent by default) and it reached at least one queue
 *   (unless `mandatory: false`); otherwise it rejects with kind 'Unavailable' (retryable).
 * - Topic exchanges; each consumer queue is durable and bound with routing-key patterns.
 * - A delivery is acked only after the handler's promise resolves. A retryable error
 *   (AppError.retryable) requeues it, up to `maxDeliveries` deliveries; then, or at once for a
 *   non-retryable error or an invalid message, it goes to the queue's dead-letter queue
 *   `<queue>.dlq` (bound to the exchange `<exchange>.dlx` with the queue name as routing key)
 *   with the original body and the reason in the headers `x-death-reason` and
 *   `x-strato-error` (the {kind, message, retryable} as JSON).
 * - Handlers run inside withRequestId(envelope.requestId).
 * - RPC: call() rejects with kind 'Timeout' after timeoutMs; a server's error comes back as
 *   {kind, message, retryable} and is rethrown as AppError.
 */
import type { z } from 'zod';
import type { WireError } from '@strato/errors';
import type { Envelope, OutgoingMessage } from './envelope';

export interface PublishOptions {
  /** Topic exchange; defaults to the bus's exchange. */
  exchange?: string;
  /** Reject when no queue is bound to the routing key (default true: nothing is silently dropped). */
  mandatory?: boolean;
  /** Written to disk by the broker (default true). */
  persistent?: boolean;
  /** How long to wait for a connection and the confirm (default: the bus's publishTimeoutMs). */
  timeoutMs?: number;
}

export interface DeliveryContext {
  queue: string;
  /** 1 on the first delivery; counts deliveries that failed with a retryable error. */
  deliveries: number;
  /** The broker delivered it before (e.g. its consumer died before acking). */
  redelivered: boolean;
}

export type Handler<T> = (envelope: Envelope<T>, context: DeliveryContext) => Promise<void>;
export type RpcHandler<Req, Res> = (envelope: Envelope<Req>, context: DeliveryContext) => Promise<Res>;

export interface ConsumeOptions<T> {
  /** Topic exchange the queue is bound to; defaults to the bus's exchange. */
  exchange?: string;
  /** Routing-key patterns ('*' one word, '#' any words); defaults to [queue]. */
  bindings?: readonly string[];
  /** Payload schema; a message failing it is dead-lettered with the reason. */
  schema?: z.ZodType<T>;
  /** Deliveries in flight at once for this consumer (default: the bus's prefetch). */
  prefetch?: number;
  /** Deliveries before a message failing with retryable errors is dead-lettered. */
  maxDeliveries?: number;
}

export interface ServeOptions<T> {
  exchange?: string;
  bindings?: readonly string[];
  /** Request payload schema; an invalid request gets an 'Invalid' reply and is dead-lettered. */
  schema?: z.ZodType<T>;
  prefetch?: number;
}

export interface CallOptions<R> {
  /** Default: the bus's callTimeoutMs. */
  timeoutMs?: number;
  /** Result schema; a result failing it rejects with kind 'Invalid'. */
  schema?: z.ZodType<R>;
  exchange?: string;
}

export interface Subscription {
  readonly queue: string;
  /** Stops new deliveries and resolves once in-flight handlers have settled. */
  cancel(): Promise<void>;
}

/** A message taken from a dead-letter queue. */
export interface DeadLetter {
  /** The queue it was dead-lettered from. */
  queue: string;
  reason: string;
  error: WireError;
  deliveries: number;
  deadLetteredAt: string;
  /** The original body, as received. */
  body: string;
  /** The original envelope when the body was a valid one. */
  envelope?: Envelope<unknown>;
}

export interface Bus {
  /** Publishes a cast/event; resolves with the envelope sent once the broker confirmed it. */
  publish<T>(routingKey: string, message: OutgoingMessage<T>, options?: PublishOptions): Promise<Envelope<T>>;
  /** Consumes a durable queue (declared and bound here) until cancelled or the bus closes. */
  consume<T>(queue: string, handler: Handler<T>, options?: ConsumeOptions<T>): Promise<Subscription>;
  /** RPC: sends to `target` (routing key of a serve() queue) and awaits the reply. */
  call<Req, Res = unknown>(
    target: string,
    message: OutgoingMessage<Req>,
    options?: CallOptions<Res>,
  ): Promise<Res>;
  /** RPC server on a durable queue; the handler's result or error is sent back to the caller. */
  serve<Req, Res>(
    queue: string,
    handler: RpcHandler<Req, Res>,
    options?: ServeOptions<Req>,
  ): Promise<Subscription>;
  /** Removes and returns up to `max` messages from the dead-letter queue of `queue`. */
  takeDeadLetters(queue: string, max?: number): Promise<DeadLetter[]>;
  /** Connected to the broker now (for /readyz). */
  isReady(): boolean;
  /** Round trip to the broker; false when it does not answer. */
  ping(): Promise<boolean>;
  /** Stops consuming, waits for in-flight handlers and publishes, then disconnects. */
  close(): Promise<void>;
}
