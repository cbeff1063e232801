import { randomUUID } from 'node:crypto';
import { createLogger } from '@strato/log';
import { RedisCache } from '../src/redis-cache';
import { cacheContract } from '../src/cache.contract';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = createLogger('test', { level: 'silent' });

cacheContract(
  'redis',
  () => new RedisCache(url, log),
  () => `strato-test:${randomUUID()}:`,
);

describe('RedisCache when Redis is unreachable', () => {
  it('fails fast with an Unavailable error', async () => {
    const cache = new RedisCache('redis://127.0.0.1:1', log);
    await expect(cache.ping()).rejects.toMatchObject({ kind: 'Unavailable' });
    await cache.close();
  });
});
