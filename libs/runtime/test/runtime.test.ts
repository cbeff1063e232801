import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@strato/log';
import { createSharedInfra, openInfra } from '../src';

const log = createLogger('test', { level: 'silent' });
const pg = process.env.DATABASE_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const amqp = process.env.AMQP_URL_TEST ?? 'amqp://guest:guest@127.0.0.1:5672';
const redis = process.env.REDIS_URL_TEST ?? 'redis://127.0.0.1:6379';

async function readiness(checks: { name: string; check: () => Promise<void> }[]) {
  return Object.fromEntries(
    await Promise.all(
      checks.map(async (c) => [
        c.name,
        await c.check().then(
          () => 'ok',
          (e: Error) => e.message,
        ),
      ]),
    ),
  ) as Record<string, string>;
}

describe('openInfra', () => {
  it('opens the embedded defaults and shares the cache and broker in one process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strato-rt-'));
    const shared = createSharedInfra();
    const a = await openInfra({
      service: 'a',
      config: { DATA_DIR: dir },
      log,
      shared,
      database: { schema: 'a', entities: [], migrations: [] },
    });
    const b = await openInfra({ service: 'b', config: { DATA_DIR: dir }, log, shared });
    await a.cache.set('k', 'v');
    expect(await b.cache.get('k')).toBe('v');
    const got = new Promise((resolve) => void b.bus.consume('rt.q', async (env) => resolve(env.payload)));
    await new Promise((r) => setTimeout(r, 10));
    await a.bus.publish('rt.q', { type: 't', version: 1, payload: { x: 1 } });
    await expect(got).resolves.toEqual({ x: 1 });
    expect(await readiness(a.checks)).toEqual({ database: 'ok', bus: 'ok', cache: 'ok' });
    await b.close();
    await a.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses PostgreSQL, RabbitMQ and Redis when configured', async () => {
    const schema = `rt_${randomBytes(4).toString('hex')}`;
    const infra = await openInfra({
      service: 'rt',
      config: { DATA_DIR: '', DATABASE_URL: pg, AMQP_URL: amqp, REDIS_URL: redis },
      log,
      database: { schema, entities: [], migrations: [] },
    });
    expect(infra.db?.options.type).toBe('postgres');
    expect(await readiness(infra.checks)).toEqual({ database: 'ok', bus: 'ok', cache: 'ok' });
    await infra.db!.query(`DROP SCHEMA "${schema}" CASCADE`);
    await infra.close();
  });

  it('reports not ready, naming the dependency, when Redis is unreachable', async () => {
    const infra = await openInfra({
      service: 'rt',
      config: { DATA_DIR: '', REDIS_URL: 'redis://127.0.0.1:1' },
      log,
    });
    const state = await readiness(infra.checks);
    expect(state.bus).toBe('ok');
    expect(state.cache).toMatch(/cache unavailable/);
    await infra.close();
  });
});
