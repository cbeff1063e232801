/** Where a subscriber's messages stand: flowing, or possibly lost (connection down). */
export interface NoticeListener {
  /** A message published on the channel. */
  message(message: string): void;
  /**
   * true once messages flow (after subscribing, again after a reconnect); false as soon as
   * some may be lost. Between a false and the next true, local copies kept up to date by the
   * messages must not be trusted.
   */
  state(flowing: boolean): void;
}

export interface NoticeSubscription {
  close(): void;
}

/**
 * The cache: liveness heartbeats with TTLs, token revocation, short locks and small caches.
 * Values are strings; callers serialise. Redis in a deployment, in-memory in the all-in-one;
 * both pass one contract suite.
 */
export interface Cache {
  get(key: string): Promise<string | null>;
  /** Several values in one round trip, in the order of keys (null where absent). */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Stores a value; with ttlSeconds it expires. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Stores only if absent (a lock); true when this call stored it. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Deletes key only while it still holds value (releasing one's own lock). */
  delIfEquals(key: string, value: string): Promise<boolean>;
  /** Atomically adds 1 and returns the new value; ttl applies when the key is created. */
  incr(key: string, ttlSeconds?: number): Promise<number>;
  /** Keys with the given prefix (small sets only: heartbeats of hosts, not tokens). */
  keys(prefix: string): Promise<string[]>;
  /** Sends message to every subscriber of channel, in every process sharing the cache. */
  publish(channel: string, message: string): Promise<void>;
  /** Listens to channel (Redis pub/sub; in-process for the memory cache). */
  subscribe(channel: string, listener: NoticeListener): NoticeSubscription;
  /** Throws when the backing store cannot be reached (used by /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
