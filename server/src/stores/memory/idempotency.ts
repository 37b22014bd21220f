import type { IdempotencyStore } from "../types.js";

/** Keys above which expired entries are swept on the next claim. */
const SWEEP_THRESHOLD = 10_000;

export class MemoryIdempotencyStore implements IdempotencyStore {
  /** Key to the epoch ms at which it expires. */
  private readonly expiries = new Map<string, number>();

  async claim(key: string, ttlMs: number, now: number) {
    const expiresAt = this.expiries.get(key);
    if (expiresAt !== undefined && expiresAt > now) return false;
    this.expiries.set(key, now + ttlMs);
    if (this.expiries.size > SWEEP_THRESHOLD) this.sweep(now);
    return true;
  }

  /** Number of keys held, expired ones included until the next sweep. */
  get size() {
    return this.expiries.size;
  }

  private sweep(now: number) {
    for (const [key, expiresAt] of this.expiries) {
      if (expiresAt <= now) this.expiries.delete(key);
    }
  }
}
