import Redis from 'ioredis';
import type { Logger } from '@strato/log';
import { AppError } from '@strato/errors';
import type { Cache, NoticeListener, NoticeSubscription } from './cache';

const DEL_IF_EQUALS = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const INCR_WITH_TTL = `local v = redis.call('incr', KEYS[1]) if v == 1 and tonumber(ARGV[1]) > 0 then redis.call('expire', KEYS[1], ARGV[1]) end return v`;

/**
 * Redis-backed cache. ioredis reconnects by itself with backoff; while Redis is away,
 * commands fail within about two seconds, so callers and /readyz see it.
 */
export class RedisCache implements Cache {
  private readonly redis: Redis;
  /** The connection in subscriber mode (pub/sub needs its own), opened by the first subscribe. */
  private subscriber: Redis | null = null;
  private readonly listeners = new Map<string, Set<NoticeListener>>();

  constructor(
    url: string,
    private readonly log: Logger,
  ) {
    this.redis = new Redis(url, {
      // Commands wait briefly for a (re)connection, then fail: callers never hang.
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      commandTimeout: 2000,
      retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000),
    });
    let down = false;
    this.redis.on('error', (err: Error) => {
      if (!down) log.warn({ err: err.message }, 'redis unreachable; reconnecting');
      down = true;
    });
    this.redis.on('ready', () => {
      if (down) log.info('redis reconnected');
      down = false;
    });
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new AppError('Unavailable', `cache unavailable: ${(err as Error).message}`, { cause: err });
    }
  }

  get(key: string): Promise<string | null> {
    return this.run(() => this.redis.get(key));
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return this.run(() => this.redis.mget(...keys));
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    await this.run(() =>
      ttlSeconds === undefined
        ? this.redis.set(key, value)
        : this.redis.set(key, value, 'EX', Math.max(1, Math.ceil(ttlSeconds))),
    );
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const res = await this.run(() =>
      this.redis.set(key, value, 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX'),
    );
    return res === 'OK';
  }

  async del(key: string): Promise<void> {
    await this.run(() => this.redis.del(key));
  }

  async delIfEquals(key: string, value: string): Promise<boolean> {
    const res = await this.run(() => this.redis.eval(DEL_IF_EQUALS, 1, key, value));
    return res === 1;
  }

  async incr(key: string, ttlSeconds?: number): Promise<number> {
    const res = await this.run(() =>
      this.redis.eval(INCR_WITH_TTL, 1, key, String(Math.ceil(ttlSeconds ?? 0))),
    );
    return Number(res);
  }

  async keys(prefix: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.run(() =>
        this.redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 500),
      );
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found;
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run(() => this.redis.publish(channel, message));
  }

  subscribe(channel: string, listener: NoticeListener): NoticeSubscription {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    const sub = this.subscriberConnection();
    if (sub.status === 'ready') void this.listen(sub, channel);
    return { close: () => set.delete(listener) };
  }

  /**
   * Every (re)connection subscribes afresh and only then tells the listeners that messages
   * flow; a closed connection tells them at once that some may be lost (Redis keeps nothing
   * for a subscriber that is away).
   */
  private subscriberConnection(): Redis {
    if (this.subscriber) return this.subscriber;
    const sub = this.redis.duplicate({ autoResubscribe: false });
    sub.on('ready', () => {
      for (const channel of this.listeners.keys()) void this.listen(sub, channel);
    });
    sub.on('message', (channel: string, message: string) => {
      for (const listener of this.listeners.get(channel) ?? []) listener.message(message);
    });
    sub.on('close', () => {
      for (const set of this.listeners.values()) for (const listener of set) listener.state(false);
    });
    sub.on('error', (err: Error) =>
      this.log.debug({ err: err.message }, 'redis subscriber connection error'),
    );
    this.subscriber = sub;
    return sub;
  }

  private async listen(sub: Redis, channel: string): Promise<void> {
    try {
      await sub.subscribe(channel);
    } catch {
      return; // the connection went down: 'close' has said so, and the next 'ready' subscribes again
    }
    for (const listener of this.listeners.get(channel) ?? []) listener.state(true);
  }

  async ping(): Promise<void> {
    await this.run(() => this.redis.ping());
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.subscriber?.disconnect(false);
    this.redis.disconnect(false);
    await Promise.resolve();
  }
}
