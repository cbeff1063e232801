/** RPC replies: an envelope of type `<request type>.reply` whose payload is the outcome. */
import { ERROR_KINDS, fromWire, type AppError, type WireError } from '@strato/errors';
import { z } from 'zod';

export type ReplyPayload = { ok: true; result: unknown } | { ok: false; error: WireError };

export const replyPayloadSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({
    ok: z.literal(false),
    error: z.object({ kind: z.enum(ERROR_KINDS), message: z.string(), retryable: z.boolean() }),
  }),
]);

export const replyType = (requestType: string): string => `${requestType}.reply`;

export function okReply(result: unknown): ReplyPayload {
  return { ok: true, result: result === undefined ? null : result };
}

export function errorReply(error: AppError): ReplyPayload {
  return { ok: false, error: error.toWire() };
}

/** The result, or the server's error rethrown as an AppError. */
export function unwrapReply(payload: unknown): unknown {
  const reply = replyPayloadSchema.parse(payload);
  if (!reply.ok) throw fromWire(reply.error);
  return reply.result;
}
