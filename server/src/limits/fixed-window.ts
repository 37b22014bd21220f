/** Counters above which expired windows are swept. */
const SWEEP_THRESHOLD = 10_000;

/**
 * Fixed-window counters by key, without timers or promises. Expired
 * windows are swept once there are more than SWEEP_THRESHOLD counters, and
 * the threshold doubles while most of them are still live.
 */
export class FixedWindowCounters {
  private readonly windows = new Map<string, { start: number; used: number }>();
  private sweepAt = SWEEP_THRESHOLD;

  constructor(readonly windowMs: number) {}

  /**
   * Adds `points` to the window of `key`. Returns 0 when the total stays
   * within `limit`, or else the ms until the window ends.
   */
  take(key: string, points: number, limit: number, now: number): number {
    let window = this.windows.get(key);
    if (!window) {
      window = { start: now, used: 0 };
      this.windows.set(key, window);
      if (this.windows.size > this.sweepAt) this.sweep(now);
    } else if (now - window.start >= this.windowMs) {
      window.start = now;
      window.used = 0;
    }
    window.used += points;
    if (window.used <= limit) return 0;
    return Math.max(1, window.start + this.windowMs - now);
  }

  /** Drops expired windows and returns how many counters are left. */
  sweep(now: number): number {
    for (const [key, window] of this.windows) {
      if (now - window.start >= this.windowMs) this.windows.delete(key);
    }
    this.sweepAt = Math.max(SWEEP_THRESHOLD, this.windows.size * 2);
    return this.windows.size;
  }
}
