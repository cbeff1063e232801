/**
 * A scheduler and several compute agents (libvirt test:///default) composed in one process,
 * as the all-in-one does, over the in-memory bus or RabbitMQ, plus a listener for
 * instance.state_changed events.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AmqpBus, MemoryBus, type Bus, type Envelope } from '@strato/bus';
import {
  MessageRouter,
  SchedulerClient,
  computeQueues,
  instanceStateChanged,
  type PayloadOf,
} from '@strato/contracts';
import { createLogger } from '@strato/log';
import { createSharedInfra } from '@strato/runtime';
// The one deliberate exception to "services never import each other": this end-to-end test
// composes the scheduler and compute agents in one process, as deploy/all-in-one does.
// eslint-disable-next-line no-restricted-imports
import { createSchedulerService, type SchedulerService } from '../../../scheduler/src/app';
// eslint-disable-next-line no-restricted-imports
import { loadSchedulerConfig } from '../../../scheduler/src/config';
import { createComputeAgentService, type ComputeAgentService } from '../../src/app';
import { loadComputeAgentConfig } from '../../src/config';
import type { HypervisorDriver } from '../../src/driver/hypervisor-driver';
import { LibvirtDriver } from '../../src/driver/libvirt.driver';

export type StateEvent = PayloadOf<typeof instanceStateChanged>;

const log = createLogger('e2e', { level: process.env.E2E_LOG ?? 'silent' });

/** Collects state events and resolves waiters when one matches (no timed assertions). */
export class EventLog {
  readonly events: StateEvent[] = [];
  private waiters: { match: (e: StateEvent) => boolean; resolve: (e: StateEvent) => void }[] = [];

  push(e: StateEvent): void {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(e)) return true;
      w.resolve(e);
      return false;
    });
  }

  waitFor(match: (e: StateEvent) => boolean): Promise<StateEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** The final event (active or error) of an instance. */
  settled(instanceId: string): Promise<StateEvent> {
    return this.waitFor(
      (e) => e.instance_id === instanceId && (e.vm_state === 'active' || e.vm_state === 'error'),
    );
  }
}

export interface Stack {
  scheduler: SchedulerService;
  agents: ComputeAgentService[];
  client: SchedulerClient;
  events: EventLog;
  /** Durable queues this stack declared for itself (to delete from a shared broker after). */
  queues: string[];
  stop(): Promise<void>;
}

export async function startStack(opts: {
  hosts: string[];
  amqpUrl?: string;
  /** Wrap a host's driver (e.g. to make its spawns fail). */
  wrapDriver?: (host: string, driver: HypervisorDriver) => HypervisorDriver;
}): Promise<Stack> {
  const shared = createSharedInfra();
  const dir = await mkdtemp(join(tmpdir(), 'strato-e2e-'));
  const amqp = opts.amqpUrl ? { AMQP_URL: opts.amqpUrl } : {};
  const scheduler = await createSchedulerService(
    loadSchedulerConfig({
      ...amqp,
      DATABASE_URL: 'sqlite::memory:',
      DATA_DIR: dir,
      SCHEDULER_PORT: '0',
      SWEEP_INTERVAL_MS: '600000',
    }),
    { log: log.child({ service: 'scheduler' }), shared },
  );
  const agents: ComputeAgentService[] = [];
  for (const host of opts.hosts) {
    const config = loadComputeAgentConfig({
      ...amqp,
      HOST_NAME: host,
      LIBVIRT_URI: 'test:///default',
      DATA_DIR: dir,
      VCPUS: '8',
      MEMORY_MB: '8192',
      DISK_GB: '100',
      COMPUTE_AGENT_PORT: '0',
      REPORT_INTERVAL_MS: '600000',
      POWER_SYNC_INTERVAL_MS: '600000',
    });
    const instancesDir = join(dir, 'instances', host);
    const base = await LibvirtDriver.open({ uri: config.LIBVIRT_URI, instancesDir, diskGb: 100, log });
    const driver = opts.wrapDriver ? opts.wrapDriver(host, base) : base;
    agents.push(
      await createComputeAgentService(config, { log: log.child({ service: host }), shared, driver }),
    );
  }

  const bus: Bus = opts.amqpUrl
    ? new AmqpBus({ url: opts.amqpUrl, service: 'e2e-test', log })
    : new MemoryBus({ service: 'e2e-test', log, broker: shared.broker });
  const events = new EventLog();
  const queue = `test.instance_events.${randomBytes(4).toString('hex')}`;
  await bus.consume(
    queue,
    new MessageRouter()
      .on(instanceStateChanged, async (e: Envelope<StateEvent>) => events.push(e.payload))
      .handler(),
    { bindings: ['instance.state_changed'] },
  );

  await scheduler.start();
  for (const agent of agents) await agent.start();

  return {
    scheduler,
    agents,
    client: new SchedulerClient(bus),
    events,
    queues: [
      queue,
      ...opts.hosts.flatMap((h) => [computeQueues(h).casts.queue, computeQueues(h).rpc.queue]),
    ].flatMap((q) => [q, `${q}.dlq`]),
    async stop() {
      for (const agent of agents) await agent.stop();
      await scheduler.stop();
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
