/**
 * What every service process is made of: its database (own schema), cache and bus, opened
 * from validated configuration, with readiness checks for /readyz. In the all-in-one the
 * in-memory cache and bus broker are shared between services through `shared`.
 */
import { AmqpBus, MemoryBroker, MemoryBus, type Bus } from '@strato/bus';
import { MemoryCache, RedisCache, type Cache } from '@strato/cache';
import type { DataSource, DatabaseOptions } from '@strato/db';
import { requestsInFlight, type ReadinessCheck } from '@strato/http';
import type { Logger } from '@strato/log';

export interface InfraConfig {
  DATABASE_URL?: string | undefined;
  AMQP_URL?: string | undefined;
  REDIS_URL?: string | undefined;
  DATA_DIR: string;
  DB_POOL_MAX?: number | undefined;
}

/** In-process stand-ins shared by the services of one all-in-one process. */
export interface SharedInfra {
  cache: Cache;
  broker: MemoryBroker;
}

/**
 * The in-process broker lets the process's HTTP requests go before its deliveries (each
 * delivery waits at most 20 ms for them): in one event loop, a request otherwise waits
 * behind every background step of every boot queued before it.
 */
export function createSharedInfra(): SharedInfra {
  return {
    cache: new MemoryCache(),
    broker: new MemoryBroker({ yieldTo: () => requestsInFlight() > 0, maxWaitMs: 20 }),
  };
}

export interface Infra {
  db: DataSource | null;
  cache: Cache;
  bus: Bus;
  checks: ReadinessCheck[];
  close(): Promise<void>;
}

export interface InfraOptions {
  /** The bus sender name, e.g. 'api' or 'compute-agent@node1'. */
  service: string;
  config: InfraConfig;
  log: Logger;
  /** The service's own schema; omit for services without a database (compute-agent). */
  database?: Omit<DatabaseOptions, 'url' | 'dataDir'>;
  shared?: SharedInfra;
}

export async function openInfra(opts: InfraOptions): Promise<Infra> {
  const { config, log } = opts;
  // Loaded only by services with a database: the ORM and drivers cost a process ~35 MiB.
  const dbLib = opts.database ? await import('@strato/db') : null;
  const db =
    dbLib && opts.database
      ? await dbLib.openDatabase({
          ...opts.database,
          url: config.DATABASE_URL,
          dataDir: config.DATA_DIR,
          poolMax: config.DB_POOL_MAX,
        })
      : null;
  const ownCache = !config.REDIS_URL && !opts.shared;
  const cache = config.REDIS_URL
    ? new RedisCache(config.REDIS_URL, log)
    : (opts.shared?.cache ?? new MemoryCache());
  const busLog = log.child({ component: `${opts.service}.bus` });
  const bus: Bus = config.AMQP_URL
    ? new AmqpBus({ url: config.AMQP_URL, service: opts.service, log: busLog })
    : new MemoryBus({
        service: opts.service,
        log: busLog,
        broker: opts.shared?.broker ?? new MemoryBroker(),
      });

  const checks: ReadinessCheck[] = [
    {
      name: 'bus',
      check: async () => {
        if (!(await bus.ping())) throw new Error('message broker unreachable');
      },
    },
    { name: 'cache', check: () => cache.ping() },
  ];
  if (db && dbLib) checks.unshift({ name: 'database', check: () => dbLib.pingDatabase(db) });

  return {
    db,
    cache,
    bus,
    checks,
    async close() {
      await bus.close();
      if (config.REDIS_URL || ownCache) await cache.close();
      if (db?.isInitialized) await db.destroy();
    },
  };
}

/** A running service as main.ts and the all-in-one see it. */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export { applyNice } from './priority';
