import { MemoryCache, type NoticeListener } from '@strato/cache';
import { RevocationEntries } from './revocations';

/** A memory cache that counts reads and lets the test drive the notices' state. */
class WatchedCache extends MemoryCache {
  reads = 0;
  listener: NoticeListener | null = null;
  override async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    this.reads++;
    return super.getMany(keys);
  }
  override subscribe(channel: string, listener: NoticeListener) {
    this.listener = listener;
    return super.subscribe(channel, listener);
  }
}

const turn = () => new Promise((r) => setImmediate(r));

describe('RevocationEntries', () => {
  it('reads through the cache once, then from what it kept while notices flow', async () => {
    const cache = new WatchedCache();
    const entries = new RevocationEntries(cache, Date.now);
    expect(await entries.read(['a', 'b'])).toEqual([null, null]); // subscribes; not flowing yet
    await turn();
    expect(await entries.read(['a', 'b'])).toEqual([null, null]);
    const reads = cache.reads;
    expect(await entries.read(['a', 'b'])).toEqual([null, null]);
    expect(await entries.read(['b'])).toEqual([null]);
    expect(cache.reads).toBe(reads);
    expect(await entries.read(['a', 'c'])).toEqual([null, null]); // c was never read: one more read
    expect(cache.reads).toBe(reads + 1);
  });

  it('sees a write made by another process as soon as its notice arrives', async () => {
    const cache = new WatchedCache();
    const mine = new RevocationEntries(cache, Date.now);
    const theirs = new RevocationEntries(cache, Date.now); // shares the cache, as processes share Redis
    await mine.read(['k']);
    await turn();
    await mine.read(['k']);
    await theirs.write('k', 'revoked', 60);
    expect(await mine.read(['k'])).toEqual(['revoked']);
  });

  it('forgets everything and reads through while notices may be lost', async () => {
    const cache = new WatchedCache();
    const entries = new RevocationEntries(cache, Date.now);
    await entries.read(['k']);
    await turn();
    await entries.read(['k']);
    cache.listener!.state(false);
    await cache.set('k', 'written while the notices were down');
    const reads = cache.reads;
    expect(await entries.read(['k'])).toEqual(['written while the notices were down']);
    expect(await entries.read(['k'])).toEqual(['written while the notices were down']);
    expect(cache.reads).toBe(reads + 2);
  });

  it('does not keep a read that a notice overtook', async () => {
    const cache = new WatchedCache();
    const entries = new RevocationEntries(cache, Date.now);
    await entries.read(['k']);
    await turn();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const getMany = cache.getMany.bind(cache);
    cache.getMany = async (keys) => {
      const stale = await getMany(keys); // read before the write below
      await gate;
      return stale;
    };
    const racing = entries.read(['fresh-key']);
    await cache.set('fresh-key', 'revoked');
    cache.listener!.message('fresh-key');
    release();
    expect(await racing).toEqual([null]); // the answer of its moment
    cache.getMany = getMany;
    expect(await entries.read(['fresh-key'])).toEqual(['revoked']); // not kept: read again
  });
});
