/**
 * The envelope every message travels in: who sent what, when, for which user request.
 * Envelopes are validated on receive; the payload is validated by the caller's schema.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '@strato/errors';
import { currentRequestId, newRequestId } from '@strato/log';

export interface Envelope<T = unknown> {
  /** Message id (uuid): handlers are idempotent on it. */
  id: string;
  /** What the message asks or tells, e.g. 'compute.build_instance'. */
  type: string;
  /** Contract version of `type`; bumped on any schema change. */
  version: number;
  /** The request id the API returned to the user, for tracing. */
  requestId: string;
  /** The service (or service@host) that sent it. */
  sender: string;
  /** ISO 8601 time of sending. */
  sentAt: string;
  payload: T;
}

/** What a caller gives to publish or call; the bus fills in the rest. */
export interface OutgoingMessage<T> {
  type: string;
  version: number;
  payload: T;
  /** Defaults to a new uuid; pass one to make a re-publish (e.g. from an outbox) deduplicable. */
  id?: string;
  /** Defaults to currentRequestId(), else a new request id. */
  requestId?: string;
}

export const envelopeSchema = z.object({
  id: z.uuid(),
  type: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
  version: z.int().min(1),
  requestId: z.string().min(1).max(255),
  sender: z.string().min(1).max(255),
  sentAt: z.iso.datetime({ offset: true }),
  payload: z.unknown(),
});

export function createEnvelope<T>(message: OutgoingMessage<T>, sender: string): Envelope<T> {
  const envelope: Envelope<T> = {
    id: message.id ?? randomUUID(),
    type: message.type,
    version: message.version,
    requestId: message.requestId ?? currentRequestId() ?? newRequestId(),
    sender,
    sentAt: new Date().toISOString(),
    payload: message.payload,
  };
  const checked = envelopeSchema.safeParse(envelope);
  if (!checked.success) {
    throw new AppError('Invalid', `invalid message envelope: ${z.prettifyError(checked.error)}`);
  }
  return envelope;
}

export function encodeEnvelope(envelope: Envelope<unknown>): Buffer {
  return Buffer.from(JSON.stringify(envelope), 'utf8');
}

/** Parses and validates a received body; throws AppError 'Invalid' with the reason. */
export function decodeEnvelope(body: Buffer): Envelope<unknown> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AppError('Invalid', 'message body is not JSON');
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) {
    throw new AppError('Invalid', `invalid message envelope: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** Validates the payload with the caller's schema; throws AppError 'Invalid' with the reason. */
export function parsePayload<T>(envelope: Envelope<unknown>, schema: z.ZodType<T> | undefined): Envelope<T> {
  if (!schema) return envelope as Envelope<T>;
  const parsed = schema.safeParse(envelope.payload);
  if (!parsed.success) {
    throw new AppError(
      'Invalid',
      `invalid payload for ${envelope.type} v${envelope.version}: ${z.prettifyError(parsed.error)}`,
    );
  }
  return { ...envelope, payload: parsed.data };
}
