/**
 * Test harness: the compute API on port 0 over SQLite in memory and a MemoryBus, with the
 * fake back half answering on the bus, a fake image service and tokens for three callers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { TokenService, parseSigningKeys } from '@strato/auth';
import { MemoryBroker, MemoryBus } from '@strato/bus';
import { MemoryCache } from '@strato/cache';
import { openDatabase } from '@strato/db';
import { novaFault } from '@strato/errors';
import { errorHandler, jsonBody, listen, notFoundHandler, requestContext } from '@strato/http';
import { createLogger } from '@strato/log';
import { FakeImageLookup } from '../adapters/image-lookup.fake';
import { COMPUTE_SCHEMA, computeEntities, computeMigrations, createCompute, type Compute } from '../index';
import { FakeBackHalf } from './fake-back-half';

export const IMAGE_ID = 'bdc01cfe-1f44-4e52-be04-f71009ec1ff9';
export const PRIVATE_IMAGE_ID = '6a6f6b1e-2c33-4c53-9a43-0d5f7c0e9a11';

export interface ComputeHarness {
  url: string;
  compute: Compute;
  back: FakeBackHalf;
  images: FakeImageLookup;
  /** The fake back half's own bus (to publish as an agent would). */
  backBus: MemoryBus;
  tokens: { admin: string; alice: string; bob: string };
  projects: { admin: string; alice: string; bob: string };
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Token signing keys shared with an identity service (default: a fixed test key). */
  signingKeys?: string;
  /** Port to listen on (default: any free one). */
  port?: number;
  /** postgres://… to run on PostgreSQL (default: SQLite in a temp dir). */
  databaseUrl?: string;
}

export async function startComputeHarness(options: HarnessOptions = {}): Promise<ComputeHarness> {
  const log = createLogger('compute-test', { level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'strato-compute-'));
  const db = await openDatabase({
    url: options.databaseUrl,
    dataDir: dir,
    schema: COMPUTE_SCHEMA,
    entities: computeEntities,
    migrations: computeMigrations,
  });
  const cache = new MemoryCache();
  const broker = new MemoryBroker();
  const bus = new MemoryBus({ service: 'api', log, broker, retryDelayMs: 5 });
  const backBus = new MemoryBus({ service: 'fake-back-half', log, broker, retryDelayMs: 5 });
  const tokenService = new TokenService({
    keys: parseSigningKeys(options.signingKeys ?? `k1:${'s'.repeat(40)}`),
    cache,
    ttlSeconds: 3600,
  });
  const issue = (user: string, project: string, roles: string[]) =>
    tokenService.issue({
      userId: `u-${user}`,
      userName: user,
      userDomainId: 'default',
      userDomainName: 'Default',
      project: { id: project, name: project, domainId: 'default', domainName: 'Default' },
      roles: roles.map((r) => ({ id: `r-${r}`, name: r })),
      methods: ['password'],
    }).token;
  const projects = { admin: 'p-admin', alice: 'p-alice', bob: 'p-bob' };
  const images = new FakeImageLookup()
    .add({ id: IMAGE_ID, name: 'tiny-qcow2', size: 196616 })
    .add({ id: PRIVATE_IMAGE_ID, name: 'bob-only', owner: projects.bob });

  const publicUrl = options.port ? `http://127.0.0.1:${options.port}/v2.1` : 'http://127.0.0.1:8774/v2.1';
  const compute = await createCompute({
    db,
    bus,
    cache,
    tokens: tokenService,
    log,
    images,
    // The harness's identity: the three projects its tokens are for.
    projects: { exists: async (id) => Object.values(projects).includes(id) },
    config: { publicUrl, outboxPollMs: 50, rpcTimeoutMs: 2000 },
  });
  const back = new FakeBackHalf(backBus);
  back.snapshotDone = async (imageId) => images.setStatus(imageId, 'active');
  await back.start();
  await compute.start();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(['x-compute-request-id']));
  app.use(jsonBody(114688));
  app.use(compute.router);
  app.use(notFoundHandler());
  app.use(errorHandler(novaFault, log));
  const server = await listen(app, options.port ?? 0, '127.0.0.1');

  return {
    url: `http://127.0.0.1:${server.port}/v2.1`,
    compute,
    back,
    images,
    backBus,
    tokens: {
      admin: issue('admin', projects.admin, ['admin', 'member', 'reader']),
      alice: issue('alice', projects.alice, ['member', 'reader']),
      bob: issue('bob', projects.bob, ['member', 'reader']),
    },
    projects,
    async close() {
      await server.close(100);
      await back.stop();
      await compute.stop();
      await Promise.all([bus.close(), backBus.close()]);
      await db.destroy();
      await cache.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until check returns a value (not undefined); fails with the last value after ~10 s. */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  what = 'condition',
): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < 400; i++) {
    last = await probe();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what} not reached; last value: ${JSON.stringify(last)}`);
}

/** A compute API answer as a test reads it: status, parsed JSON body (null when empty), headers. */
export interface ApiReply {
  status: number;
  /* eslint-disable-next-line @typescript-eslint/no-explicit-any -- read field by field, as a client would */
  body: any;
  headers: Headers;
}

/** One request to the harness's compute API (a string body is sent as is, for malformed JSON). */
export async function callApi(
  h: ComputeHarness,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiReply> {
  const res = await fetch(`${h.url}${path}`, {
    method,
    headers: {
      ...(token ? { 'X-Auth-Token': token } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null, headers: res.headers };
}
