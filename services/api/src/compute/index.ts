/**
 * The Compute API (Nova v2.1) of the api service, as one factory: its router (version
 * documents at / and /v2.1, everything else under /v2.1 behind token authentication), its
 * entities and migrations (schema 'compute'), and its background work (the instance-events
 * consumer and the outbox relay) behind start()/stop().
 *
 * Wiring (app.ts): see docs/compute-api.md.
 */
import { Counter, Registry } from 'prom-client';
import { Router } from 'express';
import type { TokenService } from '@strato/auth';
import { authenticate } from '@strato/auth';
import type { Bus, Subscription } from '@strato/bus';
import type { Cache } from '@strato/cache';
import { openDatabase, type DataSource, type EntitySchema, type MigrationInterface } from '@strato/db';
import { afterRequests } from '@strato/http';
import type { Logger } from '@strato/log';
import { HttpImageLookup } from './adapters/image-lookup.http';
import { CachedHostList, SchedulerHostDirectory } from './adapters/host-directory.scheduler';
import type { HostDirectory, ImageLookup, ProjectDirectory } from './domain/ports';
import type { QuotaLimits } from './domain/quota';
import { InstanceEventHandlers } from './events.handlers';
import { FlavorService } from './flavor.service';
import { microversion, Urls } from './http/context';
import { flavorsRouter } from './http/flavors.router';
import { hostsRouter } from './http/hosts.router';
import { keypairsRouter } from './http/keypairs.router';
import { quotasRouter } from './http/quotas.router';
import { serverGroupsRouter } from './http/server-groups.router';
import { serversRouter } from './http/servers.router';
import { rootVersionRouter, v21VersionRouter } from './http/versions.router';
import { KeypairService } from './keypair.service';
import { OutboxRelay } from './outbox.relay';
import { QuotaService } from './quota.service';
import { ServerGroupService } from './server-group.service';
import { ServerService } from './server.service';
import { computeEntities, computeMigrations } from './store';
import { UsageService } from './usage.service';

/**
 * How long an outbox relay pass may wait for this process's HTTP requests in flight to be
 * answered: under a burst of requests, the messages they committed go out together once it
 * ends, or every RELAY_DEFER_MS while it lasts, so that its requests are not kept waiting
 * while the scheduler, the agents, RabbitMQ and PostgreSQL take the cores for its boots. At
 * idle a pass starts at once; under load a boot reaches the scheduler up to this much later.
 * Measured on bench:boot multi-process, 5 rounds of 20, 60 and 100 ms: POST /servers p50
 * 18-26 → 14-22 → 11-15 ms, p99 40-74 → 32-58 → 24-47 ms, at the same servers/s until all
 * ACTIVE; all-in-one unchanged (its broker already paces deliveries).
 */
const RELAY_DEFER_MS = 100;

export { computeEntities, computeMigrations } from './store';
export { FakeImageLookup } from './adapters/image-lookup.fake';
export { HttpImageLookup } from './adapters/image-lookup.http';
export type { HostDirectory, ImageLookup, NewImage, ProjectDirectory } from './domain/ports';
export { MAX_VERSION, MIN_VERSION } from './domain/microversion';

/** The PostgreSQL schema / SQLite file name of the compute tables. */
export const COMPUTE_SCHEMA = 'compute';

export interface ComputeConfig {
  /** The catalog's public compute URL, e.g. http://127.0.0.1:8774/v2.1 (links are built from it). */
  publicUrl: string;
  /** Image v2 endpoint root, e.g. http://127.0.0.1:9292 (unused when `images` is given). */
  imageUrl?: string;
  /** The image endpoint clients use (createImage's Location before 2.45); default imageUrl. */
  imagePublicUrl?: string;
  /** Zone shown for placed servers that asked for none (Nova's 'nova'). */
  defaultAvailabilityZone?: string;
  /** Quota defaults per project (Nova's: 10 instances, 20 cores, 51200 MiB…). */
  defaultQuotas?: Partial<QuotaLimits>;
  /** Outbox poll interval (the relay is also kicked after every commit). */
  outboxPollMs?: number;
  /** RPC timeout for scheduler and console calls. */
  rpcTimeoutMs?: number;
}

export interface ComputeDeps {
  /** An open DataSource with computeEntities/computeMigrations, or where to open one. */
  db: DataSource | { url: string | undefined; dataDir: string; poolMax?: number };
  bus: Bus;
  cache: Cache;
  tokens: TokenService;
  log: Logger;
  config: ComputeConfig;
  /** Identity's projects (quota sets and flavor access are only written for one that exists). */
  projects: ProjectDirectory;
  /** Ports, for tests and special deployments; defaults are the real adapters. */
  images?: ImageLookup;
  hosts?: HostDirectory;
  /** Where compute's own metrics go (the api's registry); a private one by default. */
  metrics?: Registry;
}

export interface Compute {
  router: Router;
  entities: EntitySchema[];
  migrations: (new () => MigrationInterface)[];
  db: DataSource;
  /** Starts the instance-events consumer and the outbox relay. */
  start(): Promise<void>;
  /** Stops consuming, lets the relay finish its pass, closes the DataSource if it opened it. */
  stop(): Promise<void>;
  /** Publishes whatever is in the outbox now (tests, shutdown). */
  flushOutbox(): Promise<void>;
  /** The registry compute's metrics are in. */
  metrics: Registry;
}

function isDataSource(db: ComputeDeps['db']): db is DataSource {
  return typeof (db as DataSource).getRepository === 'function';
}

/** Builds the compute API; opens its own DataSource (schema 'compute') when given a location. */
export async function createCompute(deps: ComputeDeps): Promise<Compute> {
  const ownsDb = !isDataSource(deps.db);
  const db = isDataSource(deps.db)
    ? deps.db
    : await openDatabase({
        url: deps.db.url,
        dataDir: deps.db.dataDir,
        poolMax: deps.db.poolMax,
        schema: COMPUTE_SCHEMA,
        entities: computeEntities,
        migrations: computeMigrations,
      });
  const log = deps.log.child({ component: 'compute' });
  const urls = new Urls(deps.config.publicUrl);
  const defaultZone = deps.config.defaultAvailabilityZone ?? 'nova';
  const images =
    deps.images ?? new HttpImageLookup({ imageUrl: deps.config.imageUrl ?? 'http://127.0.0.1:9292', log });
  const hostDirectory = deps.hosts ?? new SchedulerHostDirectory(deps.bus, deps.config.rpcTimeoutMs ?? 5000);
  const hostList = new CachedHostList(hostDirectory);
  const relay = new OutboxRelay({
    db,
    bus: deps.bus,
    log,
    pollMs: deps.config.outboxPollMs,
    nextTurn: () => afterRequests(RELAY_DEFER_MS),
  });
  const quotas = new QuotaService({ db, defaults: deps.config.defaultQuotas });
  const flavors = new FlavorService({ db });
  const metrics = deps.metrics ?? new Registry();
  const admissions = new Counter({
    name: 'strato_compute_admissions_total',
    help: 'Batches of boots admitted against the quota, by the way taken: one-trip (written, then checked by the quota guard) or read-first',
    labelNames: ['way'],
    registers: [metrics],
  });
  const servers = new ServerService({
    db,
    onAdmitted: (way) => admissions.inc({ way }),
    bus: deps.bus,
    images,
    flavors,
    quotas,
    relay,
    hosts: hostList,
    log,
    consoleTimeoutMs: deps.config.rpcTimeoutMs,
  });
  const keypairs = new KeypairService({ db, quotas });
  const groups = new ServerGroupService({ db, quotas });
  const usage = new UsageService({ db });
  const events = new InstanceEventHandlers({ db, relay, log });

  const v21 = Router();
  v21.use(microversion());
  v21.use(v21VersionRouter(urls));
  v21.use(authenticate(deps.tokens, { required: true }));
  v21.use(flavorsRouter({ flavors, urls, projects: deps.projects }));
  const imagePublicUrl = deps.config.imagePublicUrl ?? deps.config.imageUrl ?? 'http://127.0.0.1:9292';
  v21.use(serversRouter({ servers, hosts: hostList, urls, defaultZone, imagePublicUrl }));
  v21.use(keypairsRouter({ keypairs, urls }));
  v21.use(quotasRouter({ quotas, usage, urls, projects: deps.projects }));
  v21.use(serverGroupsRouter({ groups }));
  v21.use(hostsRouter({ hosts: hostDirectory, servers, urls }));

  const router = Router();
  router.use(rootVersionRouter(urls));
  router.use('/v2.1', v21);

  let subscription: Subscription | null = null;
  return {
    router,
    entities: computeEntities,
    migrations: computeMigrations,
    db,
    async start() {
      subscription = await events.subscribe(deps.bus);
      relay.start();
      log.info('compute consumers and outbox relay started');
    },
    async stop() {
      await subscription?.cancel();
      subscription = null;
      await relay.stop();
      if (ownsDb && db.isInitialized) await db.destroy();
    },
    flushOutbox: () => relay.drain(),
    metrics,
  };
}
