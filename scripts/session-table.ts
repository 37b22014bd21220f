/**
 * Bounded map from engine.io session id (sid) to the backend that owns the
 * session. Entries expire after `ttlMs` without a lookup or update, and the
 * least recently used entry is evicted once `maxEntries` is reached.
 */
export class SessionTable<T> {
  /** Insertion order is the order of last use, so the oldest entry is first. */
  private readonly entries = new Map<
    string,
    { value: T; lastUsedAt: number }
  >();

  constructor(
    private readonly options: {
      maxEntries: number;
      ttlMs: number;
      now?: () => number;
    },
  ) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(
        `maxEntries must be a positive integer, got ${options.maxEntries}`,
      );
    }
    if (!(options.ttlMs > 0)) {
      throw new RangeError(`ttlMs must be positive, got ${options.ttlMs}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Returns the value for `key` and marks it as used, or undefined when absent or expired. */
  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.now();
    this.entries.delete(key);
    if (now - entry.lastUsedAt > this.options.ttlMs) return undefined;
    entry.lastUsedAt = now;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: T): void {
    const now = this.now();
    this.entries.delete(key);
    this.entries.set(key, { value, lastUsedAt: now });
    this.removeExpired(now);
    for (const oldestKey of this.entries.keys()) {
      if (this.entries.size <= this.options.maxEntries) break;
      this.entries.delete(oldestKey);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Removes expired entries, which are at the front because the map is in order of last use. */
  removeExpired(now = this.now()): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.lastUsedAt <= this.options.ttlMs) break;
      this.entries.delete(key);
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
