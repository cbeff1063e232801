/**
 * The whole cloud as separate processes on PostgreSQL, RabbitMQ and Redis, for the compute
 * acceptance tests and `npm run bench:boot`: bootstrap, api, scheduler, image,
 * object-storage, then compute agents (one process each, or several in one launcher
 * process). Every port is free and every public URL in the catalog matches it, so the
 * openstack CLI can follow the catalog. Each stack gets its own database, its own RabbitMQ
 * virtual host (queue names like scheduler.requests are global to a vhost, so stacks that
 * share one would steal each other's messages) and a Redis database of its own choosing.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AMQP_TEST_URL,
  REDIS_TEST_URL,
  adminEnv,
  cleanupOnInterrupt,
  freePort,
  randomSigningKeys,
  runScript,
  startProcess,
  tempDatabase,
  type ServiceProcess,
} from './stack';

const run = promisify(execFile);

/**
 * A throwaway RabbitMQ virtual host (through rabbitmqctl). Where rabbitmqctl is missing or
 * not allowed, the default vhost is used and `isolated` is false.
 */
export async function tempVhost(): Promise<{ url: string; isolated: boolean; drop(): Promise<void> }> {
  const name = `strato_${randomBytes(6).toString('hex')}`;
  const base = new URL(AMQP_TEST_URL);
  try {
    await run('rabbitmqctl', ['-q', 'add_vhost', name], { timeout: 30_000 });
    await run(
      'rabbitmqctl',
      ['-q', 'set_permissions', '-p', name, decodeURIComponent(base.username || 'guest'), '.*', '.*', '.*'],
      {
        timeout: 30_000,
      },
    );
  } catch {
    return { url: AMQP_TEST_URL, isolated: false, drop: async () => undefined };
  }
  base.pathname = `/${name}`;
  return {
    url: base.toString(),
    isolated: true,
    async drop() {
      await run('rabbitmqctl', ['-q', 'delete_vhost', name], { timeout: 30_000 }).catch(() => undefined);
    },
  };
}

export interface AgentGroup {
  /** Host names; with `oneProcess`, all run in one launcher process (test/support/compute-agents.ts). */
  hosts: string[];
  oneProcess?: boolean;
  /** Extra environment (inventory overrides, intervals). */
  env?: Record<string, string>;
  /** Extra environment for one host only. */
  perHost?: Record<string, Record<string, string>>;
}

export interface ComputeStack {
  /** Environment shared by every service (database, broker, cache, keys, public URLs). */
  env: Record<string, string>;
  /** OS_* variables for the openstack CLI as admin. */
  cli: Record<string, string>;
  password: string;
  identityUrl: string;
  computeUrl: string;
  computePort: number;
  redisUrl: string;
  dataDir: string;
  procs: ServiceProcess[];
  /** Starts compute agents; resolves when each process answers /readyz. */
  startAgents(group: AgentGroup): Promise<ServiceProcess[]>;
  /** Stops every process (agents first), drops the database and the vhost. */
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Extra environment per service. */
  apiEnv?: Record<string, string>;
  schedulerEnv?: Record<string, string>;
  /** Default for every agent group; a group's own env wins. */
  agentEnv?: Record<string, string>;
  agents?: AgentGroup[];
}

export async function startComputeStack(options: StackOptions = {}): Promise<ComputeStack> {
  const [db, vhost] = await Promise.all([tempDatabase(), tempVhost()]);
  const dataDir = mkdtempSync(join(tmpdir(), 'strato-compute-'));
  const redis = new URL(REDIS_TEST_URL);
  redis.pathname = `/${randomInt(1, 16)}`;
  const [identityPort, computePort, imagePort, objectPort, schedulerPort] = (await Promise.all(
    Array.from({ length: 5 }, () => freePort()),
  )) as [number, number, number, number, number];
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    AMQP_URL: vhost.url,
    REDIS_URL: redis.toString(),
    DATA_DIR: dataDir,
    TOKEN_SIGNING_KEYS: randomSigningKeys(),
    ADMIN_PASSWORD: password,
    IDENTITY_PORT: String(identityPort),
    IDENTITY_PUBLIC_URL: `http://127.0.0.1:${identityPort}/v3/`,
    COMPUTE_PORT: String(computePort),
    COMPUTE_PUBLIC_URL: `http://127.0.0.1:${computePort}/v2.1`,
    IMAGE_PORT: String(imagePort),
    IMAGE_PUBLIC_URL: `http://127.0.0.1:${imagePort}`,
    OBJECT_STORE_PORT: String(objectPort),
    OBJECT_STORE_PUBLIC_URL: `http://127.0.0.1:${objectPort}/v1/AUTH_%(project_id)s`,
    OBJECT_STORE_URL: `http://127.0.0.1:${objectPort}/v1`,
    SCHEDULER_PORT: String(schedulerPort),
    FSYNC: 'false',
  };
  const procs: ServiceProcess[] = [];
  // Interrupted (^C on a benchmark), the stack still stops and drops its database.
  const forgetCleanup = cleanupOnInterrupt(() => stack.stop());
  const stack: ComputeStack = {
    env,
    cli: adminEnv(env.IDENTITY_PUBLIC_URL!, password),
    password,
    identityUrl: env.IDENTITY_PUBLIC_URL!,
    computeUrl: env.COMPUTE_PUBLIC_URL!,
    computePort,
    redisUrl: env.REDIS_URL!,
    dataDir,
    procs,
    async startAgents(group) {
      // Agents fetch images (real guests) and upload snapshots with their own token, minted
      // with the shared TOKEN_SIGNING_KEYS, from the image service here.
      const groupEnv = { ...env, IMAGE_URL: env.IMAGE_PUBLIC_URL!, ...options.agentEnv, ...group.env };
      const outcomes = await Promise.allSettled(
        group.oneProcess
          ? [
              freePort().then((port) =>
                startProcess(
                  `agents ${group.hosts.join(',')}`,
                  'test/support/compute-agents.ts',
                  {
                    ...groupEnv,
                    AGENT_HOSTS: group.hosts.join(','),
                    AGENT_OVERRIDES: JSON.stringify(group.perHost ?? {}),
                    LAUNCHER_PORT: String(port),
                  },
                  `http://127.0.0.1:${port}/readyz`,
                ),
              ),
            ]
          : group.hosts.map(async (host) => {
              const port = await freePort();
              return startProcess(
                `compute-agent ${host}`,
                'services/compute-agent/src/main.ts',
                { ...groupEnv, ...group.perHost?.[host], HOST_NAME: host, COMPUTE_AGENT_PORT: String(port) },
                `http://127.0.0.1:${port}/readyz`,
              );
            }),
      );
      const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      procs.push(...started);
      for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
      return started;
    },
    async stop() {
      forgetCleanup();
      // Agents (started last) stop first, then the rest in reverse start order.
      await Promise.allSettled([...procs].reverse().map((p) => p.stop()));
      procs.length = 0;
      await db.drop().catch(() => undefined);
      await vhost.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await runScript('services/api/src/bootstrap.ts', env);
    const outcomes = await Promise.allSettled([
      startProcess(
        'object-storage',
        'services/object-storage/src/main.ts',
        env,
        `http://127.0.0.1:${objectPort}/readyz`,
      ),
      startProcess('image', 'services/image/src/main.ts', env, `http://127.0.0.1:${imagePort}/readyz`),
      startProcess(
        'api',
        'services/api/src/main.ts',
        { ...env, ...options.apiEnv },
        `http://127.0.0.1:${identityPort}/readyz`,
      ),
      startProcess(
        'scheduler',
        'services/scheduler/src/main.ts',
        { ...env, ...options.schedulerEnv },
        `http://127.0.0.1:${schedulerPort}/readyz`,
      ),
    ]);
    for (const o of outcomes) if (o.status === 'fulfilled') procs.push(o.value);
    for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
    for (const group of options.agents ?? []) await stack.startAgents(group);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/** A project-scoped admin token and its project id, for plain-HTTP calls. */
export async function adminToken(
  identityUrl: string,
  password: string,
): Promise<{ token: string; projectId: string }> {
  const res = await fetch(new URL('auth/tokens?nocatalog', identityUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { name: 'Default' }, password } },
        },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      },
    }),
  });
  const token = res.headers.get('x-subject-token');
  if (res.status !== 201 || !token) throw new Error(`token issue failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token: { project: { id: string } } };
  return { token, projectId: body.token.project.id };
}

/** A tiny Compute API client over fetch (JSON in and out, admin microversion). */
export class ComputeApi {
  constructor(
    private readonly base: string,
    private readonly token: string,
    private readonly version = '2.93',
  ) {}

  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.base.replace(/\/$/, '')}${path}`, {
      method,
      headers: {
        'x-auth-token': this.token,
        'openstack-api-version': `compute ${this.version}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async ok<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.call<T>(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }
}

/** Polls `probe` every `everyMs` until `done` holds; fails with the last value after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  {
    timeoutMs = 60_000,
    everyMs = 250,
    describe = (v: T) => JSON.stringify(v).slice(0, 2000),
  }: { timeoutMs?: number; everyMs?: number; describe?: (value: T) => string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${describe(value)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
