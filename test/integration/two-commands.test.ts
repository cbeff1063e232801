/**
 * The cloud from a clean start, both ways the issue asks for: `npm start` (all-in-one:
 * SQLite, in-memory bus and cache, printed OS_* variables) and the services as separate
 * processes on PostgreSQL, RabbitMQ and Redis. The openstack CLI drives both.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AMQP_TEST_URL,
  allInOneEnv,
  REDIS_TEST_URL,
  ROOT,
  freePort,
  openstack,
  randomSigningKeys,
  runScript,
  startProcess,
  tempDatabase,
  type ServiceProcess,
} from '../support/stack';
import { identityFlow } from './identity-flow';

jest.setTimeout(180_000);

describe('npm start (all-in-one)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'strato-aio-'));
  let child: ReturnType<typeof spawn>;
  let printed = '';

  beforeAll(async () => {
    child = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        ...(await allInOneEnv(dataDir)),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: npm, its shell and the service stop together.
      detached: true,
    });
    child.stderr?.on('data', (b: Buffer) => (printed += b.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`npm start printed no OS_* variables:\n${printed}`)),
        90_000,
      );
      child.stdout?.on('data', (b: Buffer) => {
        printed += b.toString();
        if (/OS_INTERFACE=public/.test(printed)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${printed}`)));
    });
  });

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints OS_* variables that the openstack CLI accepts for the identity flow', async () => {
    const vars = Object.fromEntries(
      [...printed.matchAll(/export (OS_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]]),
    );
    expect(vars.OS_USERNAME).toBe('admin');
    await identityFlow(vars.OS_AUTH_URL, vars.OS_PASSWORD);
  });

  it('boots and deletes a server through the openstack CLI (image, server create --wait, delete --wait)', async () => {
    const env = Object.fromEntries(
      [...printed.matchAll(/export (OS_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]),
    );
    const file = join(dataDir, 'tiny.img');
    writeFileSync(file, Buffer.alloc(4096, 1));
    await openstack(
      [
        'image',
        'create',
        '--file',
        file,
        '--disk-format',
        'raw',
        '--container-format',
        'bare',
        'aio-img',
        '-f',
        'json',
      ],
      env,
    );
    // m1.tiny is seeded by the compute migration.
    const server = (await openstack(
      ['server', 'create', '--flavor', 'm1.tiny', '--image', 'aio-img', '--wait', 'aio-vm', '-f', 'json'],
      env,
    )) as { id: string; status: string; 'OS-EXT-SRV-ATTR:host': string };
    expect(server.status).toBe('ACTIVE');
    expect(server['OS-EXT-SRV-ATTR:host']).toBe('allinone');
    expect(await openstack(['server', 'delete', '--wait', 'aio-vm'], env)).toBeNull();
    expect(await openstack(['server', 'list', '-f', 'json'], env)).toEqual([]);
  });
});

describe('separate processes on PostgreSQL, RabbitMQ and Redis', () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  const procs: ServiceProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await tempDatabase();
    const port = await freePort();
    env = {
      DATABASE_URL: db.url,
      AMQP_URL: AMQP_TEST_URL,
      REDIS_URL: REDIS_TEST_URL,
      TOKEN_SIGNING_KEYS: randomSigningKeys(),
      IDENTITY_PORT: String(port),
      IDENTITY_PUBLIC_URL: `http://127.0.0.1:${port}/v3/`,
      COMPUTE_PORT: '0',
      ADMIN_PASSWORD: 'multi-process-secret',
    };
    await runScript('services/api/src/bootstrap.ts', env);
    procs.push(await startProcess('api', 'services/api/src/main.ts', env, `http://127.0.0.1:${port}/readyz`));
  });

  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
    await db?.drop();
  });

  it('runs the identity flow through the openstack CLI', async () => {
    await identityFlow(env.IDENTITY_PUBLIC_URL!, env.ADMIN_PASSWORD!);
  });

  it('stops gracefully on SIGTERM', async () => {
    const api = procs.pop()!;
    expect(await api.stop()).toBe(0);
  });
});
