/** Dead-letter copies (original body, reason in headers) and reading them back. */
import { ERROR_KINDS, type WireError } from '@strato/errors';
import { z } from 'zod';
import type { DeadLetter } from './bus';
import { decodeEnvelope } from './envelope';
import { HEADERS } from './topology';
import type { ReceivedMessage, WireMessage } from './transport';

export function deadLetterCopy(
  message: ReceivedMessage,
  queue: string,
  reason: string,
  error: WireError,
  deliveries: number,
): WireMessage {
  const { redelivered: _redelivered, expirationMs: _expiration, ...rest } = message;
  return {
    ...rest,
    persistent: true,
    headers: {
      ...message.headers,
      [HEADERS.reason]: reason,
      [HEADERS.error]: JSON.stringify(error),
      [HEADERS.queue]: queue,
      [HEADERS.deliveries]: deliveries,
      [HEADERS.deadLetteredAt]: new Date().toISOString(),
    },
  };
}

/** The requeued copy of a message that failed with a retryable error. */
export function retryCopy(message: ReceivedMessage, deliveries: number): WireMessage {
  const { redelivered: _redelivered, ...rest } = message;
  return { ...rest, headers: { ...message.headers, [HEADERS.deliveries]: deliveries } };
}

const wireErrorSchema = z.object({
  kind: z.enum(ERROR_KINDS),
  message: z.string(),
  retryable: z.boolean(),
});

export function readDeadLetter(message: ReceivedMessage, fallbackQueue: string): DeadLetter {
  const h = message.headers;
  const text = (v: unknown, d: string) =>
    typeof v === 'string' ? v : typeof v === 'number' || Buffer.isBuffer(v) ? v.toString() : d;
  let error: WireError = { kind: 'Internal', message: 'unknown', retryable: false };
  try {
    error = wireErrorSchema.parse(JSON.parse(text(h[HEADERS.error], '')));
  } catch {
    // keep the fallback: a dead letter is never refused for a damaged header
  }
  let envelope: DeadLetter['envelope'];
  try {
    envelope = decodeEnvelope(message.body);
  } catch {
    envelope = undefined;
  }
  return {
    queue: text(h[HEADERS.queue], fallbackQueue),
    reason: text(h[HEADERS.reason], error.message),
    error,
    deliveries: Number(h[HEADERS.deliveries] ?? 1) || 1,
    deadLetteredAt: text(h[HEADERS.deadLetteredAt], ''),
    body: message.body.toString('utf8'),
    ...(envelope ? { envelope } : {}),
  };
}
