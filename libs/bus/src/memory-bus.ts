/** The bus of the all-in-one: in-process, same semantics as AmqpBus (one contract suite). */
import { BrokerBus, type BusOptions } from './broker-bus';
import { MemoryBroker } from './memory-broker';
import { MemoryTransport } from './memory-transport';

export interface MemoryBusOptions extends BusOptions {
  /** Share one broker between the buses of one process (one per service); default: a new one. */
  broker?: MemoryBroker;
}

export class MemoryBus extends BrokerBus {
  readonly broker: MemoryBroker;

  constructor(options: MemoryBusOptions) {
    const broker = options.broker ?? new MemoryBroker();
    super(new MemoryTransport(broker), options);
    this.broker = broker;
  }
}
