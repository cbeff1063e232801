/**
 * The scheduler's composition root: the one place that creates real adapters (database,
 * cache, bus, typed clients) and hands each part exactly what it may touch.
 */
import express from 'express';
import { Counter } from 'prom-client';
import { ComputeClient, EventPublisher, SchedulerClient, schedulerQueues } from '@strato/contracts';
import type { Subscription } from '@strato/bus';
import {
  createMetrics,
  errorHandler,
  listen,
  notFoundHandler,
  probes,
  type RunningServer,
} from '@strato/http';
import { novaFault } from '@strato/errors';
import { createLogger, type Logger } from '@strato/log';
import { openInfra, type Infra, type Service, type SharedInfra } from '@strato/runtime';
import type { SchedulerConfig } from './config';
import { HostStateReader } from './domain/host-state.reader';
import { HostsService } from './domain/hosts.service';
import { PlacementService, type SchedulerOutbox } from './domain/placement.service';
import { PlacementView } from './domain/placement-view';
import { filtersByName } from './filters';
import { schedulerRouters } from './rpc/scheduler.handlers';
import { PlacementRepository, schedulerEntities, schedulerMigrations } from './store';
import { weighersFor } from './weighers';

export interface SchedulerService extends Service {
  readonly placement: PlacementService;
  readonly hosts: HostsService;
  readonly repository: PlacementRepository;
  /** The health/metrics port actually bound. */
  port(): number;
  /** Runs one pass of the silent-host sweeper now (tests, operators). */
  sweep(): Promise<number>;
}

export async function createSchedulerService(
  config: SchedulerConfig,
  options: { log?: Logger; shared?: SharedInfra } = {},
): Promise<SchedulerService> {
  const log = options.log ?? createLogger('scheduler', { level: config.LOG_LEVEL });
  const filters = filtersByName(config.SCHEDULER_FILTERS);
  const infra: Infra = await openInfra({
    service: 'scheduler',
    config,
    log,
    database: {
      schema: config.SCHEDULER_DB_SCHEMA,
      entities: schedulerEntities,
      migrations: schedulerMigrations,
    },
    shared: options.shared,
  });
  const { bus, cache } = infra;
  const repository = new PlacementRepository(infra.db!);
  const reader = new HostStateReader({ providers: repository, cache });

  const events = new EventPublisher(bus);
  const scheduler = new SchedulerClient(bus);
  const outbox: SchedulerOutbox = {
    build: async (host, request) => void (await new ComputeClient(bus, host).buildInstance(request)),
    deleteOn: async (host, instanceId) =>
      void (await new ComputeClient(bus, host).deleteInstance(instanceId)),
    stateChanged: async (event) => void (await events.instanceStateChanged(event)),
    reschedule: async (request) => void (await scheduler.scheduleInstance(request)),
  };
  const placement = new PlacementService({
    store: repository,
    hosts: new PlacementView({ reader, maxAgeMs: config.SCHEDULER_HOST_VIEW_MS }),
    filters,
    weighers: weighersFor(config.SCHEDULER_STRATEGY, {
      ram: config.RAM_WEIGHT_MULTIPLIER,
      vcpu: config.VCPU_WEIGHT_MULTIPLIER,
      cpuLoad: config.CPU_LOAD_WEIGHT_MULTIPLIER,
      instanceCount: config.INSTANCE_COUNT_WEIGHT_MULTIPLIER,
    }),
    outbox,
    log: log.child({ component: 'placement' }),
    maxAttempts: config.MAX_ATTEMPTS,
    hostSubsetSize: config.SCHEDULER_HOST_SUBSET_SIZE,
  });
  const hosts = new HostsService({
    store: repository,
    hosts: reader,
    log: log.child({ component: 'hosts' }),
  });

  const metrics = createMetrics('scheduler');
  const scheduled = new Counter({
    name: 'strato_scheduler_requests_total',
    help: 'Schedule requests handled, by outcome',
    labelNames: ['outcome'],
    registers: [metrics],
  });
  const routers = schedulerRouters({
    placement,
    hosts,
    onScheduled: (o) => scheduled.inc({ outcome: o.outcome }),
  });

  const app = express();
  app.disable('x-powered-by');
  app.use(probes(metrics, infra.checks));
  app.use(notFoundHandler());
  app.use(errorHandler(novaFault, log));

  let server: RunningServer | null = null;
  let subscriptions: Subscription[] = [];
  let sweeper: NodeJS.Timeout | null = null;
  let sweeping: Promise<number> | null = null;
  const sweep = () => {
    sweeping ??= placement.sweepSilentHosts().finally(() => (sweeping = null));
    return sweeping;
  };

  return {
    name: 'scheduler',
    placement,
    hosts,
    repository,
    port: () => server?.port ?? config.SCHEDULER_PORT,
    sweep,
    async start() {
      const prefetch = config.SCHEDULER_PREFETCH;
      const q = schedulerQueues;
      subscriptions = await Promise.all([
        bus.consume(q.reports.queue, routers.reports.handler(), { bindings: q.reports.bindings, prefetch }),
        bus.consume(q.events.queue, routers.events.handler(), { bindings: q.events.bindings, prefetch }),
        bus.consume(q.requests.queue, routers.requests.handler(), {
          bindings: q.requests.bindings,
          prefetch,
        }),
        bus.serve(q.rpc.queue, routers.rpc.rpcHandler(), { bindings: q.rpc.bindings, prefetch }),
      ]);
      sweeper = setInterval(() => {
        sweep().catch((err: unknown) => log.error({ err }, 'silent-host sweep failed'));
      }, config.SWEEP_INTERVAL_MS);
      sweeper.unref();
      server = await listen(app, config.SCHEDULER_PORT, config.BIND_HOST);
      log.info(
        { port: server.port, filters: config.SCHEDULER_FILTERS, strategy: config.SCHEDULER_STRATEGY },
        'scheduler started',
      );
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      await Promise.allSettled(subscriptions.map((s) => s.cancel()));
      await sweeping?.catch(() => undefined);
      await server?.close();
      await infra.close();
    },
  };
}
