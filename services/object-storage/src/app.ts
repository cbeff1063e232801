/**
 * The object-storage service's composition root: the one place that creates real adapters
 * (database, data backend, token service, credential resolver) and wires Swift and S3 onto
 * one port.
 */
import { join } from 'node:path';
import express from 'express';
import { TokenService, parseSigningKeys } from '@strato/auth';
import {
  createMetrics,
  listen,
  httpMetrics,
  notFoundHandler,
  probes,
  requestContext,
  type RunningServer,
} from '@strato/http';
import { createLogger, type Logger } from '@strato/log';
import { openInfra, type Infra, type Service, type SharedInfra } from '@strato/runtime';
import {
  BusCredentialResolver,
  CachingCredentialResolver,
  type CredentialResolver,
} from './auth/credentials';
import { VerifiedTokenCache } from './auth/token-cache';
import { FsDataBackend } from './backend/fs-backend';
import type { ObjectStorageConfig } from './config';
import { ObjectStoreService } from './domain/object-store.service';
import { objectStorageErrors } from './http/errors';
import { s3Handler } from './http/s3.router';
import { objectPortHandler } from './http/server';
import { swiftHandler, swiftInfo } from './http/swift.router';
import { objectStorageMigrations } from './store/migrations';
import { MetadataRepository } from './store/metadata.repository';
import { sqlDatabaseFor } from './store/sql';

export interface ObjectStorageService extends Service {
  readonly store: ObjectStoreService;
  /** The port actually bound (differs from config when it asked for port 0). */
  port(): number;
}

const MAX_SEGMENTS = 1000;

export async function createObjectStorageService(
  config: ObjectStorageConfig,
  options: { log?: Logger; shared?: SharedInfra; credentials?: CredentialResolver } = {},
): Promise<ObjectStorageService> {
  const log = options.log ?? createLogger('object-storage', { level: config.LOG_LEVEL });
  const schema = config.OBJECT_STORE_DB_SCHEMA;
  const infra: Infra = await openInfra({
    service: 'object-storage',
    config,
    log,
    database: { schema, entities: [], migrations: objectStorageMigrations },
    shared: options.shared,
  });
  const meta = new MetadataRepository(sqlDatabaseFor(infra.db!, schema, { durable: config.FSYNC }));
  const limits = {
    maxObjectSize: config.MAX_OBJECT_SIZE,
    minPartSize: config.S3_MIN_PART_SIZE,
    maxSegments: MAX_SEGMENTS,
    maxManifestBytes: config.MAX_MANIFEST_BYTES,
  };
  const store = new ObjectStoreService({
    meta,
    data: new FsDataBackend({
      root: config.OBJECT_DATA_DIR ?? join(config.DATA_DIR, 'objects'),
      fsync: config.FSYNC,
    }),
    log: log.child({ component: 'object-store' }),
    limits,
  });
  const tokens = new TokenService({
    keys: parseSigningKeys(config.TOKEN_SIGNING_KEYS),
    cache: infra.cache,
    ttlSeconds: 3600,
  });
  const credentials = new CachingCredentialResolver(
    options.credentials ?? new BusCredentialResolver(infra.bus),
    config.CREDENTIAL_CACHE_SECONDS * 1000,
  );

  const metrics = createMetrics('object-storage');
  // Swift and S3 requests never enter express (its per-request routing is most of a small
  // request's cost); the app serves the probes, /info and the 404s.
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(probes(metrics, infra.checks));
  app.get('/info', (_req, res) => {
    res.json(swiftInfo(limits));
  });
  app.use(notFoundHandler());
  app.use(objectStorageErrors(log));
  const handler = objectPortHandler({
    before: [requestContext(['x-trans-id', 'x-amz-request-id']), httpMetrics(metrics)],
    swift: swiftHandler({
      store,
      tokens: new VerifiedTokenCache(tokens, config.TOKEN_CACHE_SECONDS * 1000),
      limits,
    }),
    s3: s3Handler({ store, credentials, limits, region: config.S3_REGION, log }),
    fallback: app,
    log,
  });

  let server: RunningServer | null = null;
  let sweep: Promise<void> | null = null;
  return {
    name: 'object-storage',
    store,
    port: () => server?.port ?? config.OBJECT_STORE_PORT,
    async start() {
      await store.init();
      const startedAt = Date.now();
      server = await listen(handler, config.OBJECT_STORE_PORT, config.BIND_HOST);
      server.server.requestTimeout = 0;
      log.info({ port: server.port }, 'object storage (Swift and S3) listening');
      sweep = store.sweepOrphans(startedAt).then(
        () => undefined,
        (err: unknown) => log.error({ err }, 'orphan sweep failed'),
      );
    },
    async stop() {
      await server?.close();
      await sweep;
      await store.drain();
      await meta.close();
      await infra.close();
    },
  };
}
