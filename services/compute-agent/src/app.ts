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
import { ServiceToken, TokenService, parseSigningKeys } from '@strato/auth';
import type { Cache } from '@strato/cache';
import { ConfigError } from '@strato/config';
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
import { backingFilesInUse } from './driver/instance-dirs';
import { LibvirtDriver } from './driver/libvirt.driver';
import { ImageCache } from './images/image-cache';
import { ImageClient } from './images/image-client';
import { QemuImg } from './images/qemu-img';
import { snapshotUploader } from './images/image-upload';
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

interface Adapters {
  driver: HypervisorDriver;
  /** Releases the image client's sockets. */
  release(): void;
}

/**
 * The hypervisor driver, with the image cache and image client real hypervisors (qemu URIs)
 * need: their guests boot from images the agent downloads with its own token, so they need
 * TOKEN_SIGNING_KEYS.
 */
/** The agent's own token for the image service, minted with the shared keys (when it has them). */
function agentToken(config: ComputeAgentConfig, cache: Cache): ServiceToken | null {
  if (!config.TOKEN_SIGNING_KEYS) return null;
  return new ServiceToken({
    tokens: new TokenService({
      keys: parseSigningKeys(config.TOKEN_SIGNING_KEYS),
      cache,
      ttlSeconds: config.SERVICE_TOKEN_TTL_SECONDS,
    }),
    projectId: config.SERVICE_PROJECT_ID,
    userId: `compute-agent@${config.HOST_NAME}`,
    userName: 'nova',
  });
}

async function openAdapters(
  config: ComputeAgentConfig,
  instancesDir: string,
  log: Logger,
  token: ServiceToken | null,
  given: HypervisorDriver | undefined,
): Promise<Adapters> {
  const realHypervisor =
    !given && config.HYPERVISOR_DRIVER === 'libvirt' && !config.LIBVIRT_URI.startsWith('test:');
  if (realHypervisor && !config.TOKEN_SIGNING_KEYS) {
    throw new ConfigError([
      `TOKEN_SIGNING_KEYS is required with LIBVIRT_URI=${config.LIBVIRT_URI} (the agent fetches images from the image service with its own token)`,
    ]);
  }
  const imageClient =
    token && realHypervisor ? new ImageClient({ url: config.IMAGE_URL, token: () => token.get() }) : null;
  const release = () => imageClient?.close();
  const adapters = (driver: HypervisorDriver): Adapters => ({ driver, release });
  try {
    if (given) return adapters(given);
    if (config.HYPERVISOR_DRIVER === 'fake') return adapters(new FakeDriver());
    const common = {
      uri: config.LIBVIRT_URI,
      instancesDir,
      ...(config.DISK_GB !== undefined ? { diskGb: config.DISK_GB } : {}),
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      log,
    };
    if (!realHypervisor || !imageClient) return adapters(await LibvirtDriver.open(common));
    const qemuImg = new QemuImg();
    const images = new ImageCache({
      dir: resolve(config.IMAGE_CACHE_DIR ?? join(instancesDir, '_base')),
      maxBytes: config.IMAGE_CACHE_MAX_GB * 1024 ** 3,
      source: imageClient,
      inspect: (path, format) => qemuImg.info(path, format),
      inUse: () => backingFilesInUse(instancesDir),
      log: log.child({ component: 'image-cache' }),
    });
    const driver = await LibvirtDriver.open({
      ...common,
      guests: {
        images,
        imageSource: imageClient,
        qemuImg,
        virtType: config.LIBVIRT_VIRT_TYPE ?? config.LIBVIRT_DOMAIN_TYPE ?? 'auto',
        network: config.LIBVIRT_NETWORK === 'none' ? null : config.LIBVIRT_NETWORK,
        configDriveBus: config.CONFIG_DRIVE_BUS,
        availabilityZone: config.AVAILABILITY_ZONE,
        softRebootGraceMs: config.SOFT_REBOOT_GRACE_MS,
      },
    });
    return adapters(driver);
  } catch (err) {
    release();
    throw err;
  }
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
  const { bus, cache } = infra;
  const instancesDir = resolve(config.INSTANCES_DIR ?? join(config.DATA_DIR, 'instances', config.HOST_NAME));
  const token = agentToken(config, cache);
  let adapters: Adapters;
  try {
    adapters = await openAdapters(
      config,
      instancesDir,
      log.child({ component: 'driver' }),
      token,
      options.driver,
    );
  } catch (err) {
    await infra.close();
    throw err;
  }
  const { driver } = adapters;

  const events = new EventPublisher(bus);
  const outbox: AgentOutbox = {
    stateChanged: async (e) => void (await events.instanceStateChanged(e)),
    buildFailed: async (e) => void (await events.instanceBuildFailed(e)),
    hostInstances: async (r) => void (await events.hostInstances(r)),
  };
  const uploads = snapshotUploader({ imageUrl: config.IMAGE_URL, token });
  const manager = new ComputeManager({
    host,
    availabilityZone: config.AVAILABILITY_ZONE,
    driver,
    outbox,
    images: uploads,
    // '_' keeps it apart from the instance directories (<uuid>) and beside the image cache (_base).
    snapshotDir: join(instancesDir, '_snapshots'),
    log: log.child({ component: 'manager' }),
    spawningReportMs: config.SPAWNING_REPORT_MS,
  });
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
      adapters.release();
      uploads.close();
      await infra.close();
    },
  };
}
