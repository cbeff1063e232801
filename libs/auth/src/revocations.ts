/**
 * Revocation entries as this process last read them, kept true by notices: every write goes
 * to the cache and is then published on a channel every token-checking process listens to,
 * and a notice drops that entry here. So a request whose entries were read before needs no
 * cache round trip, and a revocation is seen by every process as soon as its notice arrives.
 * The writer returns only once its own copy of the notice is back: Redis sends a message to
 * all subscribers in one pass, so by then every process has it on its socket, before the
 * revoking request has answered its client.
 *
 * Only while notices flow: when the subscriber connection drops, everything kept is
 * forgotten and entries are read from the cache again (which fails closed if it is down)
 * until notices flow again. A read that raced a notice is not kept (generation count). A
 * decision from kept entries waits one turn of the event loop first, so that a notice
 * already received by this process is applied before any request that arrived with it.
 */
import type { Cache, NoticeSubscription } from '@strato/cache';

const CHANNEL = 'strato:revocations';
/** Entries are read again after this long even with notices flowing: a bound, not the mechanism. */
const MAX_AGE_MS = 60_000;
const MAX_ENTRIES = 10_000;
const ECHO_WAIT_MS = 2000;

export class RevocationEntries {
  private readonly kept = new Map<string, { value: string | null; at: number }>();
  private flowing = false;
  private generation = 0;
  private subscription: NoticeSubscription | null = null;
  /** Writes waiting for their own notice to come back, by key. */
  private readonly echoes = new Map<string, (() => void)[]>();

  constructor(
    private readonly cache: Cache,
    private readonly now: () => number,
  ) {}

  /** The values of keys (null: no entry). */
  async read(keys: readonly string[]): Promise<(string | null)[]> {
    this.listen();
    if (this.flowing && keys.every((k) => this.fresh(k))) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.flowing && keys.every((k) => this.fresh(k))) return keys.map((k) => this.kept.get(k)!.value);
    }
    const generation = this.generation;
    const values = await this.cache.getMany(keys);
    if (this.flowing && generation === this.generation) {
      if (this.kept.size + keys.length > MAX_ENTRIES) this.kept.clear();
      const at = this.now();
      keys.forEach((k, i) => this.kept.set(k, { value: values[i] ?? null, at }));
    }
    return values;
  }

  /** Writes an entry, then tells every process (this one too) to forget what it kept of it. */
  async write(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.listen();
    this.forget(key);
    await this.cache.set(key, value, ttlSeconds);
    const echoed = this.flowing ? this.echo(key) : null;
    await this.cache.publish(CHANNEL, key);
    await echoed;
  }

  /** Resolves when the notice of key comes back, or notices stop flowing, or after 2 s at most. */
  private echo(key: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ECHO_WAIT_MS);
      const waiting = this.echoes.get(key) ?? [];
      waiting.push(done);
      this.echoes.set(key, waiting);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private fresh(key: string): boolean {
    const entry = this.kept.get(key);
    return entry !== undefined && this.now() - entry.at < MAX_AGE_MS;
  }

  private listen(): void {
    if (this.subscription) return;
    this.subscription = this.cache.subscribe(CHANNEL, {
      message: (key) => this.noticed(key),
      state: (flowing) => this.reset(flowing),
    });
  }

  private forget(key: string): void {
    this.kept.delete(key);
    this.generation++;
  }

  private noticed(key: string): void {
    this.forget(key);
    const waiting = this.echoes.get(key);
    this.echoes.delete(key);
    for (const done of waiting ?? []) done();
  }

  private reset(flowing: boolean): void {
    this.kept.clear();
    this.generation++;
    this.flowing = flowing;
    if (!flowing) {
      for (const waiting of this.echoes.values()) for (const done of waiting) done();
      this.echoes.clear();
    }
  }
}
