import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
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

describe('RedisCache notices across processes', () => {
  it('reaches another client, and tells its subscribers when messages may be lost and when they flow again', async () => {
    const [publisher, subscriber] = [new RedisCache(url, log), new RedisCache(url, log)];
    const channel = `strato-test:${randomUUID()}`;
    const events: string[] = [];
    let waiting: { until: string; resolve: () => void } | null = null;
    const record = (e: string) => {
      events.push(e);
      if (waiting && e === waiting.until) waiting.resolve();
    };
    const next = (until: string) => new Promise<void>((resolve) => (waiting = { until, resolve }));
    try {
      const up = next('flowing');
      subscriber.subscribe(channel, {
        message: (m) => record(`message ${m}`),
        state: (flowing) => record(flowing ? 'flowing' : 'lost'),
      });
      await up;
      const got = next('message one');
      await publisher.publish(channel, 'one');
      await got;
      // Redis drops the subscriber's connection (as when it restarts): lost, then flowing again.
      const back = next('flowing');
      const raw = new Redis(url);
      await raw.client('KILL', 'TYPE', 'pubsub');
      raw.disconnect();
      await back;
      const again = next('message two');
      await publisher.publish(channel, 'two');
      await again;
      expect(events).toEqual(['flowing', 'message one', 'lost', 'flowing', 'message two']);
    } finally {
      await publisher.close();
      await subscriber.close();
    }
  });
});

describe('RedisCache when Redis is unreachable', () => {
  it('fails fast with an Unavailable error', async () => {
    const cache = new RedisCache('redis://127.0.0.1:1', log);
    await expect(cache.ping()).rejects.toMatchObject({ kind: 'Unavailable' });
    await cache.close();
  });
});
