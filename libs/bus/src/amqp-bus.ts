/** The bus on RabbitMQ: BrokerBus over an AmqpTransport (see both for the semantics). */
import { BrokerBus, type BusOptions } from './broker-bus';
import { AmqpTransport, type AmqpTransportOptions } from './amqp-transport';

export type AmqpBusOptions = BusOptions & Omit<AmqpTransportOptions, 'log'>;

export class AmqpBus extends BrokerBus {
  /** Connects lazily, on the first publish, consume, serve or call. */
  constructor(options: AmqpBusOptions) {
    super(new AmqpTransport({ ...options, log: options.log }), options);
  }
}
