import { RefreshingMap } from './refreshing-map';

describe('RefreshingMap', () => {
  let clock = 0;
  let loads = 0;
  const failures: unknown[] = [];
  const map = () =>
    new RefreshingMap<string | null>({
      freshMs: 100,
      maxStaleMs: 1000,
      serveStale: (v) => v !== null,
      onRefreshError: (err) => failures.push(err),
      now: () => clock,
    });
  /** A load whose answer the test releases. */
  const deferred = () => {
    let release!: (v: string | null) => void;
    let fail!: (e: Error) => void;
    const promise = new Promise<string | null>((resolve, reject) => {
      release = resolve;
      fail = reject;
    });
    return { load: () => (loads++, promise), release, fail };
  };
  beforeEach(() => {
    clock = 0;
    loads = 0;
    failures.length = 0;
  });

  it('shares one load among concurrent misses and serves the value while fresh', async () => {
    const m = map();
    const d = deferred();
    const both = Promise.all([m.get('k', d.load), m.get('k', d.load)]);
    d.release('v1');
    expect(await both).toEqual(['v1', 'v1']);
    clock = 99;
    expect(await m.get('k', () => Promise.resolve('unused'))).toBe('v1');
    expect(loads).toBe(1);
  });

  it('serves a stale value at once while one background load refreshes it', async () => {
    const m = map();
    await m.get('k', () => Promise.resolve('v1'));
    clock = 500;
    const d = deferred();
    expect(await m.get('k', d.load)).toBe('v1');
    expect(await m.get('k', d.load)).toBe('v1');
    expect(loads).toBe(1);
    d.release('v2');
    await new Promise((r) => setImmediate(r));
    expect(await m.get('k', () => Promise.resolve('unused'))).toBe('v2');
  });

  it('waits for a load when the value is too old, or one serveStale refuses', async () => {
    const m = map();
    await m.get('gone', () => Promise.resolve(null));
    await m.get('k', () => Promise.resolve('v1'));
    clock = 500;
    expect(await m.get('gone', () => Promise.resolve('back'))).toBe('back');
    clock = 2000;
    expect(await m.get('k', () => Promise.resolve('v3'))).toBe('v3');
  });

  it('keeps the stale value when a refresh fails, and reports it', async () => {
    const m = map();
    await m.get('k', () => Promise.resolve('v1'));
    clock = 500;
    expect(await m.get('k', () => Promise.reject(new Error('down')))).toBe('v1');
    await new Promise((r) => setImmediate(r));
    expect(failures).toEqual([new Error('down')]);
    expect(await m.get('k', () => Promise.resolve('v2'))).toBe('v1'); // still stale: refreshing
  });

  it('never stores what a load read before clear() or delete()', async () => {
    const m = map();
    const d = deferred();
    const before = m.get('k', d.load);
    m.clear(); // a change made here while the read was on its way
    d.release('old');
    expect(await before).toBe('old'); // its own caller still gets an answer
    expect(await m.get('k', () => Promise.resolve('new'))).toBe('new');
    const e = deferred();
    const pending = m.get('j', e.load);
    m.delete('j');
    e.release('old');
    await pending;
    expect(await m.get('j', () => Promise.resolve('new'))).toBe('new');
  });
});
