/**
 * Starts the api service in-process on a free port, bootstrapped with an admin, and gives
 * tests a small fetch helper. SQLite in a temp dir with in-memory bus and cache (like the
 * all-in-one) unless env names PostgreSQL, Redis or RabbitMQ.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@strato/log';
import { createSharedInfra } from '@strato/runtime';
import { createApiService, type ApiService } from '../../src/app';
import { loadApiConfig, type ApiConfig } from '../../src/config';
import { bootstrapIdentity, type BootstrapReport } from '../../src/identity';

export const ADMIN_PASSWORD = 'admin-secret-pw';

export interface Harness {
  service: ApiService;
  config: ApiConfig;
  boot: BootstrapReport;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  stop(): Promise<void>;
}

export async function startIdentity(env: Record<string, string> = {}): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'strato-identity-'));
  const config = loadApiConfig({
    DATA_DIR: dataDir,
    TOKEN_SIGNING_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
    IDENTITY_PORT: '0',
    COMPUTE_PORT: '0',
    LOG_LEVEL: 'silent',
    ADMIN_PASSWORD,
    ...env,
  });
  const log = createLogger('api', { level: 'silent' });
  const shared = config.REDIS_URL ? undefined : createSharedInfra();
  const service = await createApiService(config, { log, shared });
  try {
    const boot = await bootstrapIdentity(service.identity, {
      adminUser: config.ADMIN_USER,
      adminProject: config.ADMIN_PROJECT,
      adminPassword: ADMIN_PASSWORD,
      region: config.REGION,
    });
    await service.start();
    return {
      service,
      config,
      boot,
      url: `http://127.0.0.1:${service.identityPort()}`,
      async stop() {
        await service.stop();
        if (shared) await shared.cache.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await service.stop();
    throw err;
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies are read freely in tests
  body: any;
}

export interface CallOptions {
  token?: string;
  subject?: string;
  body?: unknown;
  /** Sent as is (for malformed JSON and oversize bodies). */
  raw?: string;
  headers?: Record<string, string>;
}

export async function call(base: string, method: string, path: string, o: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
  if (o.token) headers['x-auth-token'] = o.token;
  if (o.subject) headers['x-subject-token'] = o.subject;
  let body: string | undefined;
  if (o.raw !== undefined || o.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = o.raw ?? JSON.stringify(o.body);
  }
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export function passwordAuth(
  user: { name?: string; id?: string; password: string; domain?: { name?: string; id?: string } },
  scope?: unknown,
) {
  return {
    auth: {
      identity: { methods: ['password'], password: { user } },
      ...(scope === undefined ? {} : { scope }),
    },
  };
}
