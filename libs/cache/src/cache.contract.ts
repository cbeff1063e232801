/** One contract for every Cache implementation. */
import type { Cache } from './cache';

export function cacheContract(name: string, make: () => Cache, prefix: () => string): void {
  describe(`Cache contract: ${name}`, () => {
    let cache: Cache;
    let p: string;
    beforeEach(() => {
      cache = make();
      p = prefix();
    });
    afterEach(async () => {
      for (const k of await cache.keys(p)) await cache.del(k);
      await cache.close();
    });

    it('stores, reads and deletes', async () => {
      await cache.set(`${p}a`, '1');
      expect(await cache.get(`${p}a`)).toBe('1');
      await cache.del(`${p}a`);
      expect(await cache.get(`${p}a`)).toBeNull();
    });

    it('reads several keys at once, in order, null where absent', async () => {
      await cache.set(`${p}m1`, 'one');
      await cache.set(`${p}m3`, 'three');
      expect(await cache.getMany([`${p}m1`, `${p}m2`, `${p}m3`])).toEqual(['one', null, 'three']);
      expect(await cache.getMany([])).toEqual([]);
    });

    it('expires values after their ttl', async () => {
      await cache.set(`${p}t`, 'x', 1);
      expect(await cache.get(`${p}t`)).toBe('x');
      await new Promise((r) => setTimeout(r, 1100));
      expect(await cache.get(`${p}t`)).toBeNull();
    });

    it('grants a lock once and releases it only for its holder', async () => {
      expect(await cache.setIfAbsent(`${p}lock`, 'me', 10)).toBe(true);
      expect(await cache.setIfAbsent(`${p}lock`, 'you', 10)).toBe(false);
      expect(await cache.delIfEquals(`${p}lock`, 'you')).toBe(false);
      expect(await cache.delIfEquals(`${p}lock`, 'me')).toBe(true);
      expect(await cache.get(`${p}lock`)).toBeNull();
    });

    it('counts atomically', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => cache.incr(`${p}n`, 10)));
      expect(new Set(results).size).toBe(20);
      expect(Math.max(...results)).toBe(20);
    });

    it('lists keys by prefix', async () => {
      await cache.set(`${p}k:1`, 'a');
      await cache.set(`${p}k:2`, 'b');
      await cache.set(`${p}other`, 'c');
      expect((await cache.keys(`${p}k:`)).sort()).toEqual([`${p}k:1`, `${p}k:2`]);
    });

    it('delivers published messages to its subscribers once they flow, and none after close', async () => {
      const got: string[] = [];
      const flowing = new Promise<void>((resolve) => {
        const sub = cache.subscribe(`${p}ch`, {
          message: (m) => {
            got.push(m);
            if (m === 'second') sub.close();
          },
          state: (up) => up && resolve(),
        });
      });
      await flowing;
      await cache.publish(`${p}ch`, 'first');
      await cache.publish(`${p}other`, 'elsewhere');
      await cache.publish(`${p}ch`, 'second');
      await cache.publish(`${p}ch`, 'third');
      await cache.ping(); // messages of earlier publishes have arrived by now
      await new Promise((r) => setTimeout(r, 20));
      expect(got).toEqual(['first', 'second']);
    });

    it('answers ping', async () => {
      await expect(cache.ping()).resolves.toBeUndefined();
    });
  });
}
