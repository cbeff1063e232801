/**
 * The image service's composition root: the one place that creates real adapters (database,
 * cache, token service, object-storage client) and hands each part exactly what it may touch.
 */
import express from 'express';
import { ServiceToken, TokenService, parseSigningKeys } from '@strato/auth';
import { createMetrics, httpMetrics, listen, probes, requestContext, type RunningServer } from '@strato/http';
import { createLogger, type Logger } from '@strato/log';
import { openInfra, type Service, type SharedInfra } from '@strato/runtime';
import type { ImageConfig } from './config';
import type { ImageDataStore } from './domain/image-data';
import { ImageService } from './domain/image.service';
import { SwiftImageDataStore } from './data/swift-data-store';
import { glanceErrorHandler, glanceNotFound } from './http/glance-fault';
import { imageRouter } from './http/image.router';
import { versionsRouter } from './http/versions.router';
import { TypeormImageRepository, imageEntities, imageMigrations } from './store';

export interface ImageServiceApp extends Service {
  readonly images: ImageService;
  /** The port actually bound (differs from config when it asked for port 0). */
  port(): number;
}

export async function createImageService(
  config: ImageConfig,
  options: { log?: Logger; shared?: SharedInfra; dataStore?: ImageDataStore } = {},
): Promise<ImageServiceApp> {
  const log = options.log ?? createLogger('image', { level: config.LOG_LEVEL });
  const infra = await openInfra({
    service: 'image',
    config,
    log,
    database: { schema: 'image', entities: imageEntities, migrations: imageMigrations },
    shared: options.shared,
  });
  const tokens = new TokenService({
    keys: parseSigningKeys(config.TOKEN_SIGNING_KEYS),
    cache: infra.cache,
    ttlSeconds: config.SERVICE_TOKEN_TTL_SECONDS,
  });
  let swift: SwiftImageDataStore | null = null;
  let data = options.dataStore;
  if (!data) {
    const serviceToken = new ServiceToken({
      tokens,
      projectId: config.IMAGE_SERVICE_PROJECT_ID,
      userId: 'image-service',
      userName: 'glance',
    });
    swift = new SwiftImageDataStore({
      url: config.OBJECT_STORE_URL,
      projectId: config.IMAGE_SERVICE_PROJECT_ID,
      container: config.IMAGE_CONTAINER,
      token: () => serviceToken.get(),
      log: log.child({ component: 'image.data' }),
    });
    data = swift;
  }
  const store = data;
  const checks = [...infra.checks];
  if (store.ping) checks.push({ name: 'object-storage', check: () => store.ping!() });

  const images = new ImageService({
    images: new TypeormImageRepository(infra.db!),
    data: store,
    log: log.child({ component: 'image.service' }),
    limits: {
      sizeCap: config.IMAGE_SIZE_CAP,
      tagQuota: config.IMAGE_TAG_QUOTA,
      propertyQuota: config.IMAGE_PROPERTY_QUOTA,
      memberQuota: 128,
    },
  });

  const metrics = createMetrics('image');
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext());
  app.use(httpMetrics(metrics));
  app.use(probes(metrics, checks));
  app.use(versionsRouter(config.IMAGE_PUBLIC_URL));
  app.use(
    imageRouter({
      images,
      tokens,
      publicUrl: config.IMAGE_PUBLIC_URL,
      maxBodyBytes: config.MAX_BODY_BYTES,
      listLimits: { defaultLimit: 25, maxLimit: 1000 },
    }),
  );
  app.use(glanceNotFound());
  // Unversioned, as keystonemiddleware names it (http://host:5000/).
  app.use(glanceErrorHandler(log, config.IDENTITY_PUBLIC_URL.replace(/v3\/?$/, '')));

  let server: RunningServer | null = null;
  return {
    name: 'image',
    images,
    port: () => server?.port ?? config.IMAGE_PORT,
    async start() {
      server = await listen(app, config.IMAGE_PORT, config.BIND_HOST);
      log.info({ port: server.port }, 'image API listening');
    },
    async stop() {
      await server?.close();
      swift?.close();
      await infra.close();
    },
  };
}
