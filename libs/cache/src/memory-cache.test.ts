import { cacheContract } from './cache.contract';
import { MemoryCache } from './memory-cache';

cacheContract(
  'memory',
  () => new MemoryCache(),
  () => 'test:',
);
