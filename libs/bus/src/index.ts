/**
 * @strato/bus: the message bus. `Bus` is the contract; `AmqpBus` runs it on RabbitMQ and
 * `MemoryBus` in-process for the all-in-one. See bus.ts for the shared semantics.
 */
export type {
  Bus,
  CallOptions,
  ConsumeOptions,
  DeadLetter,
  DeliveryContext,
  Handler,
  PublishOptions,
  RpcHandler,
  ServeOptions,
  Subscription,
} from './bus';
export {
  envelopeSchema,
  createEnvelope,
  decodeEnvelope,
  type Envelope,
  type OutgoingMessage,
} from './envelope';
export { BrokerBus, type BusOptions } from './broker-bus';
export { AmqpBus, type AmqpBusOptions } from './amqp-bus';
export { MemoryBus, type MemoryBusOptions } from './memory-bus';
export { MemoryBroker, type DeliveryPolicy } from './memory-broker';
export { dlqName, dlxName, HEADERS } from './topology';
