/**
 * What to do with one received message: parse and validate it, run the handler inside the
 * message's request id, and decide ack, retry or dead-letter from the outcome. Pure of any
 * broker: both transports execute the decision the same way.
 */
import type { z } from 'zod';
import { AppError, toAppError, type WireError } from '@strato/errors';
import { withRequestId } from '@strato/log';
import type { DeliveryContext } from './bus';
import { decodeEnvelope, parsePayload, type Envelope } from './envelope';
import { deliveriesOf } from './topology';
import type { ReceivedMessage } from './transport';

export type Decision =
  | { action: 'ack' }
  | { action: 'retry'; deliveries: number; error: AppError }
  | { action: 'dead-letter'; deliveries: number; reason: string; error: WireError };

export type Parsed<T> =
  | { ok: true; envelope: Envelope<T>; context: DeliveryContext }
  | { ok: false; error: AppError; context: DeliveryContext };

export function parseMessage<T>(
  queue: string,
  message: ReceivedMessage,
  schema: z.ZodType<T> | undefined,
): Parsed<T> {
  const context: DeliveryContext = {
    queue,
    deliveries: deliveriesOf(message.headers),
    redelivered: message.redelivered,
  };
  try {
    return { ok: true, envelope: parsePayload(decodeEnvelope(message.body), schema), context };
  } catch (err) {
    return { ok: false, error: toAppError(err), context };
  }
}

/** Runs the handler with the message's request id as the current one. */
export async function runHandler<T, R>(
  envelope: Envelope<T>,
  context: DeliveryContext,
  handler: (envelope: Envelope<T>, context: DeliveryContext) => Promise<R>,
): Promise<{ ok: true; value: R } | { ok: false; error: AppError }> {
  try {
    const value = await withRequestId(envelope.requestId, () => handler(envelope, context));
    return { ok: true, value };
  } catch (err) {
    return { ok: false, error: toAppError(err) };
  }
}

/** Poison (invalid) messages and non-retryable errors are dead-lettered at once. */
export function decideOnFailure(error: AppError, deliveries: number, maxDeliveries: number): Decision {
  if (!error.retryable) {
    return {
      action: 'dead-letter',
      deliveries,
      reason: `${error.kind}: ${error.message}`,
      error: error.toWire(),
    };
  }
  if (deliveries >= maxDeliveries) {
    return {
      action: 'dead-letter',
      deliveries,
      reason: `gave up after ${deliveries} deliveries: ${error.kind}: ${error.message}`,
      error: error.toWire(),
    };
  }
  return { action: 'retry', deliveries, error };
}
