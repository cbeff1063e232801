import { AmqpBus } from '../src/amqp-bus';
import { busContract } from '../src/bus.contract';
import { AMQP_URL, deleteTopology, log } from './amqp-harness';

jest.setTimeout(20_000);

busContract('AmqpBus (RabbitMQ)', () => ({
  create: (options) =>
    new AmqpBus({ ...options, url: AMQP_URL, log, publishTimeoutMs: 5_000, reconnectMaxDelayMs: 1_000 }),
  cleanup: deleteTopology,
}));
