/**
 * A message contract: its type name, version, kind and zod schema(s). Every message between
 * api, scheduler and compute-agent is one of these; senders build OutgoingMessages from them
 * and receivers validate with them, so both ends agree by construction.
 *
 * Versioning rule: any change to a schema's shape bumps its version (the fingerprint test in
 * fingerprint.test.ts enforces it). A receiver accepts exactly the versions it declares.
 */
import { z } from 'zod';
import type {
  Bus,
  DeliveryContext,
  Envelope,
  Handler,
  OutgoingMessage,
  PublishOptions,
  RpcHandler,
} from '@strato/bus';
import { AppError } from '@strato/errors';

export type MessageKind =
  /** One receiver is asked to do something (persistent, acked after the effect). */
  | 'cast'
  /** Something happened; any number of services may bind a queue to it. */
  | 'event'
  /** A request that waits for a reply (bus.call / bus.serve). */
  | 'rpc';

export interface MessageContract<S extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly version: number;
  readonly kind: MessageKind;
  readonly schema: S;
  /** RPC only: the result's schema. */
  readonly reply?: R;
  readonly description: string;
}

export type PayloadOf<C extends MessageContract> = z.infer<C['schema']>;
export type ReplyOf<C extends MessageContract> = z.infer<NonNullable<C['reply']>>;

export function defineMessage<S extends z.ZodType, R extends z.ZodType = z.ZodNever>(contract: {
  type: string;
  version: number;
  kind: MessageKind;
  schema: S;
  reply?: R;
  description: string;
}): MessageContract<S, R> {
  if (!/^[a-z0-9_]+(\.[a-z0-9_]+)+$/.test(contract.type)) {
    throw new Error(`message type '${contract.type}' must be dotted lower_snake words`);
  }
  if (!Number.isInteger(contract.version) || contract.version < 1) {
    throw new Error(`message type '${contract.type}' needs a positive integer version`);
  }
  return Object.freeze({ ...contract });
}

/** Options a sender may pass: a fixed message id (outbox re-publish) and the user's request id. */
export interface SendOptions {
  id?: string;
  requestId?: string;
}

/**
 * Builds the outgoing message for `contract`, validating the payload first: an invalid
 * message is a bug at the sender and never reaches the broker.
 */
export function outgoing<C extends MessageContract>(
  contract: C,
  payload: z.input<C['schema']>,
  options: SendOptions = {},
): OutgoingMessage<PayloadOf<C>> {
  const parsed = contract.schema.safeParse(payload);
  if (!parsed.success) {
    throw new AppError(
      'Invalid',
      `refusing to send an invalid ${contract.type} v${contract.version}: ${z.prettifyError(parsed.error)}`,
    );
  }
  return {
    type: contract.type,
    version: contract.version,
    payload: parsed.data as PayloadOf<C>,
    ...(options.id !== undefined ? { id: options.id } : {}),
    ...(options.requestId !== undefined ? { requestId: options.requestId } : {}),
  };
}

/** Validates a received envelope against the contract; throws AppError 'Invalid' (dead-letter). */
export function parseEnvelope<C extends MessageContract>(
  contract: C,
  envelope: Envelope<unknown>,
): Envelope<PayloadOf<C>> {
  if (envelope.type !== contract.type || envelope.version !== contract.version) {
    throw new AppError(
      'Invalid',
      `expected ${contract.type} v${contract.version}, got ${envelope.type} v${envelope.version}`,
    );
  }
  const parsed = contract.schema.safeParse(envelope.payload);
  if (!parsed.success) {
    throw new AppError(
      'Invalid',
      `invalid payload for ${contract.type} v${contract.version}: ${z.prettifyError(parsed.error)}`,
    );
  }
  return { ...envelope, payload: parsed.data as PayloadOf<C> };
}

export type TypedHandler<C extends MessageContract> = (
  envelope: Envelope<PayloadOf<C>>,
  context: DeliveryContext,
) => Promise<void>;

interface Route {
  contract: MessageContract;
  handle: (envelope: Envelope<never>, context: DeliveryContext) => Promise<unknown>;
}

const keyOf = (type: string, version: number) => `${type}@${version}`;

/**
 * One bus Handler for a queue that carries several message types: each envelope is matched
 * on (type, version), validated by its contract and given to its typed handler. An unknown
 * type or version, or an invalid payload, is rejected as 'Invalid' (so it is dead-lettered
 * with the reason, never silently dropped).
 */
export class MessageRouter {
  private readonly routes = new Map<string, Route>();

  on<C extends MessageContract>(contract: C, handle: TypedHandler<C>): this {
    return this.add(contract, handle);
  }

  /** For RPC queues: the handler's result is validated by the contract's reply schema. */
  onCall<C extends MessageContract>(
    contract: C,
    handle: (
      envelope: Envelope<PayloadOf<C>>,
      context: DeliveryContext,
    ) => Promise<z.input<NonNullable<C['reply']>>>,
  ): this {
    return this.add(contract, async (envelope, context) => {
      const result = await handle(envelope, context);
      const parsed = contract.reply
        ? contract.reply.safeParse(result)
        : { success: true as const, data: result };
      if (!parsed.success) {
        throw new AppError('Internal', `${contract.type}: reply failed its schema: ${parsed.error.message}`);
      }
      return parsed.data;
    });
  }

  /** Message types (with version) this router accepts. */
  get accepted(): string[] {
    return [...this.routes.keys()];
  }

  handler(): Handler<unknown> {
    return async (envelope, context) => {
      await this.dispatch(envelope, context);
    };
  }

  rpcHandler(): RpcHandler<unknown, unknown> {
    return (envelope, context) => this.dispatch(envelope, context);
  }

  private add(contract: MessageContract, handle: Route['handle']): this {
    const key = keyOf(contract.type, contract.version);
    if (this.routes.has(key)) throw new Error(`${key} is already routed`);
    this.routes.set(key, { contract, handle });
    return this;
  }

  private async dispatch(envelope: Envelope<unknown>, context: DeliveryContext): Promise<unknown> {
    const route = this.routes.get(keyOf(envelope.type, envelope.version));
    if (!route) {
      throw new AppError(
        'Invalid',
        `no handler for ${envelope.type} v${envelope.version} on '${context.queue}' (accepts ${this.accepted.join(', ')})`,
      );
    }
    const parsed = parseEnvelope(route.contract, envelope);
    return route.handle(parsed as Envelope<never>, context);
  }
}

/** Publishes a contract message; the routing key comes from the caller (a typed client). */
export async function publishMessage<C extends MessageContract>(
  bus: Bus,
  routingKey: string,
  contract: C,
  payload: z.input<C['schema']>,
  options: SendOptions = {},
  publishOptions?: PublishOptions,
): Promise<Envelope<PayloadOf<C>>> {
  return bus.publish(routingKey, outgoing(contract, payload, options), publishOptions);
}

/** Calls an RPC contract; the reply is validated by its reply schema. */
export async function callMessage<C extends MessageContract>(
  bus: Bus,
  target: string,
  contract: C,
  payload: z.input<C['schema']>,
  options: SendOptions & { timeoutMs?: number } = {},
): Promise<ReplyOf<C>> {
  const { timeoutMs, ...send } = options;
  return bus.call(target, outgoing(contract, payload, send), {
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(contract.reply ? { schema: contract.reply as z.ZodType<ReplyOf<C>> } : {}),
  });
}
