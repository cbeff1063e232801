/**
 * The api service's composition root: the one place that creates real adapters (database,
 * cache, bus, token service) and hands each part exactly what it may touch.
 */
import express from 'express';
import { TokenService, parseSigningKeys } from '@strato/auth';
import { keystoneFault, novaFault, toAppError } from '@strato/errors';
import {
  createMetrics,
  errorHandler,
  httpMetrics,
  jsonBody,
  listen,
  notFoundHandler,
  probes,
  requestContext,
  type RunningServer,
} from '@strato/http';
import { createLogger, type Logger } from '@strato/log';
import { openInfra, type Infra, type Service, type SharedInfra } from '@strato/runtime';
import type { ApiConfig } from './config';
import { identityEntities, identityMigrations } from './identity/store';
import { IdentityService } from './identity/identity.service';
import { identityRouter } from './identity/http/identity.router';
import { catalogFromConfig } from './identity/catalog';
import { createCompute, type Compute } from './compute';
import { serveIdentityRpc } from './identity/rpc/identity.handlers';

export interface ApiService extends Service {
  readonly identity: IdentityService;
  readonly compute: Compute;
  /** The identity port actually bound (differs from config when it asked for port 0). */
  identityPort(): number;
  /** The compute port actually bound. */
  computePort(): number;
}

export async function createApiService(
  config: ApiConfig,
  options: { log?: Logger; shared?: SharedInfra } = {},
): Promise<ApiService> {
  const log = options.log ?? createLogger('api', { level: config.LOG_LEVEL });
  const infra: Infra = await openInfra({
    service: 'api',
    config,
    log,
    database: { schema: 'identity', entities: identityEntities, migrations: identityMigrations },
    shared: options.shared,
  });
  const signingKeys = parseSigningKeys(config.TOKEN_SIGNING_KEYS);
  const tokens = new TokenService({
    keys: signingKeys,
    cache: infra.cache,
    ttlSeconds: config.TOKEN_TTL_SECONDS,
  });
  const identity = new IdentityService({
    db: infra.db!,
    tokens,
    log: log.child({ component: 'identity' }),
    catalog: catalogFromConfig(config),
    secretKeys: signingKeys,
  });

  const metrics = createMetrics('api');
  const compute = await createCompute({
    db: { url: config.DATABASE_URL, dataDir: config.DATA_DIR, poolMax: config.DB_POOL_MAX },
    bus: infra.bus,
    cache: infra.cache,
    tokens,
    log: log.child({ component: 'compute' }),
    config: {
      publicUrl: config.COMPUTE_PUBLIC_URL,
      imageUrl: config.IMAGE_INTERNAL_URL ?? config.IMAGE_PUBLIC_URL,
    },
    metrics,
    projects: {
      exists: (id) =>
        identity.getProject(id).then(
          () => true,
          (err: unknown) => {
            if (toAppError(err).kind === 'NotFound') return false;
            throw err;
          },
        ),
    },
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext());
  const measure = httpMetrics(metrics);
  app.use(measure);
  app.use(probes(metrics, infra.checks));
  app.use(jsonBody(config.MAX_BODY_BYTES));
  app.use(identityRouter({ identity, tokens, publicUrl: config.IDENTITY_PUBLIC_URL }));
  app.use(notFoundHandler());
  app.use(errorHandler(keystoneFault, log));

  const computeApp = express();
  computeApp.disable('x-powered-by');
  computeApp.set('etag', false);
  computeApp.use(requestContext(['x-compute-request-id']));
  computeApp.use(measure);
  computeApp.use(probes(metrics, infra.checks));
  computeApp.use(jsonBody(config.MAX_BODY_BYTES));
  computeApp.use(compute.router);
  computeApp.use(notFoundHandler());
  // As keystonemiddleware in front of Nova: a 401 names the identity service.
  computeApp.use(
    errorHandler(novaFault, log, {
      challenge: `Keystone uri="${config.IDENTITY_PUBLIC_URL.replace(/v3\/?$/, '')}"`,
    }),
  );

  let rpc: { cancel(): Promise<void> } | null = null;
  let server: RunningServer | null = null;
  let computeServer: RunningServer | null = null;
  return {
    name: 'api',
    identity,
    compute,
    identityPort: () => server?.port ?? config.IDENTITY_PORT,
    computePort: () => computeServer?.port ?? config.COMPUTE_PORT,
    async start() {
      rpc = await serveIdentityRpc(infra.bus, identity);
      await compute.start();
      server = await listen(app, config.IDENTITY_PORT, config.BIND_HOST);
      computeServer = await listen(computeApp, config.COMPUTE_PORT, config.BIND_HOST);
      log.info(
        { identityPort: server.port, computePort: computeServer.port },
        'identity and compute APIs listening',
      );
    },
    async stop() {
      await Promise.all([server?.close(), computeServer?.close()]);
      await rpc?.cancel();
      await compute.stop();
      await infra.close();
    },
  };
}
