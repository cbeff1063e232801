export * from './cache';
export { MemoryCache } from './memory-cache';
export { RedisCache } from './redis-cache';
export { RefreshingMap, type RefreshingMapOptions } from './refreshing-map';

import type { Cache } from './cache';
import { MemoryCache } from './memory-cache';
import { RedisCache } from './redis-cache';
import type { Logger } from '@strato/log';

/** Redis when a URL is configured, the in-memory stand-in otherwise (the all-in-one). */
export function createCache(url: string | undefined, log: Logger): Cache {
  return url ? new RedisCache(url, log) : new MemoryCache();
}
