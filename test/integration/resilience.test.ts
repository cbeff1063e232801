/**
 * A dependency going away and coming back: the api process keeps running, /readyz says not
 * ready (naming the cache) while Redis is gone, and everything works again once it is back,
 * without a restart. Uses a Redis server of its own on a free port, never the shared one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, randomSigningKeys, startProcess, type ServiceProcess } from '../support/stack';

jest.setTimeout(120_000);

function startRedis(port: number, dir: string): ChildProcess {
  return spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    {
      stdio: 'ignore',
    },
  );
}

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    last = await probe();
  }
  return last;
}

describe('api when Redis goes away and comes back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strato-res-'));
  let redis: ChildProcess;
  let redisPort: number;
  let api: ServiceProcess;
  let base: string;

  beforeAll(async () => {
    redisPort = await freePort();
    redis = startRedis(redisPort, dir);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    api = await startProcess(
      'api',
      'services/api/src/main.ts',
      {
        DATA_DIR: dir,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        TOKEN_SIGNING_KEYS: randomSigningKeys(),
        IDENTITY_PORT: String(port),
        COMPUTE_PORT: '0',
        IDENTITY_PUBLIC_URL: `${base}/v3/`,
      },
      `${base}/readyz`,
    );
  });

  afterAll(async () => {
    await api?.stop();
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const readyz = async () => {
    const res = await fetch(`${base}/readyz`);
    return { status: res.status, body: (await res.json()) as { checks: { name: string; ok: boolean }[] } };
  };

  it('reports not ready while Redis is down and ready again after, without a restart', async () => {
    expect((await readyz()).status).toBe(200);

    const exited = new Promise((r) => redis.once('exit', r));
    redis.kill('SIGKILL');
    await exited;
    const down = await until(readyz, (r) => r.status === 503);
    expect(down.status).toBe(503);
    expect(down.body.checks.find((c) => c.name === 'cache')?.ok).toBe(false);
    expect(down.body.checks.find((c) => c.name === 'database')?.ok).toBe(true);
    // A request that needs the cache fails cleanly (no crash, no hang).
    const res = await fetch(`${base}/v3/auth/tokens`, {
      headers: { 'x-auth-token': 'x', 'x-subject-token': 'y' },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);

    redis = startRedis(redisPort, dir);
    const up = await until(readyz, (r) => r.status === 200);
    expect(up.status).toBe(200);
    expect(api.child.exitCode).toBeNull();
  });
});
