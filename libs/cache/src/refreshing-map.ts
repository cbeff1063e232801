/**
 * A process-local map of values loaded on demand (a flavor row, an image record) that a hot
 * path reads on every request. A value younger than freshMs is served as it is. An older one
 * that `serveStale` accepts, younger than maxStaleMs, is served at once while one background
 * load refreshes it, so a request never waits on the source for a value it used a moment ago.
 * Anything else is loaded, and concurrent misses of a key share one load. clear() and
 * delete() also disown loads already running, so a value read before a change made here is
 * never stored after it.
 */
export interface RefreshingMapOptions<V> {
  freshMs: number;
  maxStaleMs: number;
  /** Which stale values may be served while refreshing (default: all). */
  serveStale?: (value: V) => boolean;
  /** Told of a background refresh that failed (the stale value stays until maxStaleMs). */
  onRefreshError?: (err: unknown, key: string) => void;
  maxEntries?: number;
  now?: () => number;
}

export class RefreshingMap<V> {
  private readonly entries = new Map<string, { at: number; value: V }>();
  private readonly loading = new Map<string, Promise<V>>();
  private generation = 0;

  constructor(private readonly options: RefreshingMapOptions<V>) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = (this.options.now ?? Date.now)();
    const hit = this.entries.get(key);
    const age = hit ? now - hit.at : Infinity;
    if (hit && age < this.options.freshMs) return Promise.resolve(hit.value);
    if (hit && age < this.options.maxStaleMs && (this.options.serveStale?.(hit.value) ?? true)) {
      this.load(key, load).catch((err: unknown) => this.options.onRefreshError?.(err, key));
      return Promise.resolve(hit.value);
    }
    return this.load(key, load);
  }

  delete(key: string): void {
    this.entries.delete(key);
    this.loading.delete(key);
    this.generation++;
  }

  clear(): void {
    this.entries.clear();
    this.loading.clear();
    this.generation++;
  }

  private load(key: string, load: () => Promise<V>): Promise<V> {
    const running = this.loading.get(key);
    if (running) return running;
    const generation = this.generation;
    const loaded = load()
      .then((value) => {
        if (generation === this.generation) {
          if (this.entries.size >= (this.options.maxEntries ?? 1000)) this.entries.clear();
          this.entries.set(key, { at: (this.options.now ?? Date.now)(), value });
        }
        return value;
      })
      .finally(() => {
        if (this.loading.get(key) === loaded) this.loading.delete(key);
      });
    this.loading.set(key, loaded);
    return loaded;
  }
}
