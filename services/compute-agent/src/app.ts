/**
 * The compute agent's composition root. Everything an agent holds is created here, per
 * agent, so several agents can run in one process (the all-in-one, tests): no module-level
 * state, and libvirt's one-per-process lifecycle watch is optional (agents that cannot get
 * it poll power states instead). The agent has no database: libvirt is its truth.
 */
import { resolve, join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import express from 'express';
import { Counter } from 'prom-client';
import { EventPublisher, computeQueues } from '@strato/contracts';
import type { Subscription } from '@strato/bus';
import { novaFault } from '@strato/errors';
import {
  createMetrics,
  errorHandler,
  listen,
  notFoundHandler,
  probes,
  type RunningServer,
} from '@strato/http';
import { createLogger, type Logger } from '@strato/log';
import { openInfra, type Infra, type Service, type SharedInfra } from '@strato/runtime';
import type { ComputeAgentConfig } from './config';
import { ComputeManager, type AgentOutbox } from './domain/compute.manager';
import { HostReporter } from './domain/host-reporter';
import { FakeDriver } from './driver/fake.driver';
import type { HypervisorDriver } from './driver/hypervisor-driver';
import { LibvirtDriver } from './driver/libvirt.driver';
import { computeRouters } from './rpc/compute.handlers';

export interface ComputeAgentService extends Service {
  readonly host: string;
  readonly manager: ComputeManager;
  readonly driver: HypervisorDriver;
  /** Reports inventory and load and renews the heartbeat now. */
  reportNow(): Promise<void>;
  /** Compares power states with libvirt now. */
  syncNow(): Promise<number>;
  port(): number;
}

export interface ComputeAgentOptions {
  log?: Logger;
  shared?: SharedInfra;
  /** A driver to use instead of the configured one; the agent owns it and closes it on stop. */
  driver?: HypervisorDriver;
}

async function openDriver(config: ComputeAgentConfig, log: Logger): Promise<HypervisorDriver> {
  if (config.HYPERVISOR_DRIVER === 'fake') return new FakeDriver();
  const instancesDir = resolve(config.INSTANCES_DIR ?? join(config.DATA_DIR, 'instances', config.HOST_NAME));
  return LibvirtDriver.open({
    uri: config.LIBVIRT_URI,
    instancesDir,
    domainType: config.LIBVIRT_DOMAIN_TYPE,
    ...(config.DISK_GB !== undefined ? { diskGb: config.DISK_GB } : {}),
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    log,
  });
}

export async function createComputeAgentService(
  config: ComputeAgentConfig,
  options: ComputeAgentOptions = {},
): Promise<ComputeAgentService> {
  const host = config.HOST_NAME;
  const log = (options.log ?? createLogger('compute-agent', { level: config.LOG_LEVEL })).child({ host });
  const infra: Infra = await openInfra({
    service: `compute-agent@${host}`,
    config,
    log,
    shared: options.shared,
  });
  let driver: HypervisorDriver;
  try {
    driver = options.driver ?? (await openDriver(config, log.child({ component: 'driver' })));
  } catch (err) {
    await infra.close();
    throw err;
  }
  const { bus, cache } = infra;

  const events = new EventPublisher(bus);
  const outbox: AgentOutbox = {
    stateChanged: async (e) => void (await events.instanceStateChanged(e)),
    buildFailed: async (e) => void (await events.instanceBuildFailed(e)),
    hostInstances: async (r) => void (await events.hostInstances(r)),
  };
  const manager = new ComputeManager({ host, driver, outbox, log: log.child({ component: 'manager' }) });
  const reporter = new HostReporter({
    settings: {
      host,
      availabilityZone: config.AVAILABILITY_ZONE,
      hostIp: config.HOST_IP,
      vcpus: config.VCPUS,
      memoryMb: config.MEMORY_MB,
      diskGb: config.DISK_GB,
      reservedCpus: config.RESERVED_HOST_CPUS,
      reservedMemoryMb: config.RESERVED_HOST_MEMORY_MB,
      reservedDiskGb: config.RESERVED_HOST_DISK_GB,
      cpuAllocationRatio: config.CPU_ALLOCATION_RATIO,
      ramAllocationRatio: config.RAM_ALLOCATION_RATIO,
      diskAllocationRatio: config.DISK_ALLOCATION_RATIO,
      capabilities: config.HOST_CAPABILITIES,
      traits: config.HOST_TRAITS,
      heartbeatTimeoutS: config.HEARTBEAT_TIMEOUT_S,
    },
    driver,
    cache,
    publish: async (r) => void (await events.hostReport(r)),
    runningGuests: () => manager.runningGuests(),
    cpuLoad: () => (loadavg()[0] ?? 0) / Math.max(1, cpus().length),
  });

  const metrics = createMetrics('compute-agent');
  const handled = new Counter({
    name: 'strato_compute_agent_messages_total',
    help: 'Messages handled by this agent, by type and outcome',
    labelNames: ['type', 'outcome'],
    registers: [metrics],
  });
  const routers = computeRouters(manager, host);
  const casts = routers.casts.handler();

  const app = express();
  app.disable('x-powered-by');
  app.use(probes(metrics, infra.checks));
  app.use(notFoundHandler());
  app.use(errorHandler(novaFault, log));

  let server: RunningServer | null = null;
  let subscriptions: Subscription[] = [];
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  /** Runs a periodic job unless the previous run is still going. */
  const every = (ms: number, name: string, job: () => Promise<unknown>) => {
    let current: Promise<unknown> | null = null;
    const timer = setInterval(() => {
      if (current) return;
      current = job()
        .catch((err: unknown) => log.warn({ err, job: name }, 'periodic job failed'))
        .finally(() => {
          running.delete(current!);
          current = null;
        });
      running.add(current);
    }, ms);
    timer.unref();
    timers.push(timer);
  };

  return {
    name: `compute-agent@${host}`,
    host,
    manager,
    driver,
    reportNow: async () => void (await reporter.report()),
    syncNow: () => manager.syncPowerStates(),
    port: () => server?.port ?? config.COMPUTE_AGENT_PORT,
    async start() {
      const q = computeQueues(host);
      subscriptions = await Promise.all([
        bus.consume(
          q.casts.queue,
          async (envelope, context) => {
            try {
              await casts(envelope, context);
              handled.inc({ type: envelope.type, outcome: 'ok' });
            } catch (err) {
              handled.inc({ type: envelope.type, outcome: 'error' });
              throw err;
            }
          },
          { bindings: q.casts.bindings, prefetch: config.AGENT_PREFETCH },
        ),
        bus.serve(q.rpc.queue, routers.rpc.rpcHandler(), { bindings: q.rpc.bindings }),
      ]);
      await manager.reconcile();
      await reporter.report();
      every(config.REPORT_INTERVAL_MS, 'report', () => reporter.report());
      const watched = await driver.watchPowerStates((id) => {
        const sync = manager
          .syncPowerStates(id)
          .catch((err: unknown) => log.warn({ err }, 'power sync failed'));
        running.add(sync);
        void sync.finally(() => running.delete(sync));
      });
      // With events, polling only catches what events miss (e.g. a reconnect), so it can be slow.
      every(config.POWER_SYNC_INTERVAL_MS * (watched ? 6 : 1), 'power-sync', () => manager.syncPowerStates());
      server = await listen(app, config.COMPUTE_AGENT_PORT, config.BIND_HOST);
      log.info(
        { port: server.port, uri: config.LIBVIRT_URI, driver: driver.name, lifecycleEvents: watched },
        'compute agent started',
      );
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      await Promise.allSettled(subscriptions.map((s) => s.cancel()));
      await Promise.allSettled([...running]);
      await server?.close();
      await driver.close();
      await infra.close();
    },
  };
}
