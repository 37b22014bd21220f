/**
 * Deadlines that all lie the same time after they are added, so they
 * expire in the order they were added. One map and one timer serve all of
 * them, where a timer each would cost a timer object and its closure per
 * entry. The map keeps insertion order, so the oldest entry is always
 * first, and an entry deleted before its deadline is gone at once, which
 * lets it be collected while it is still young.
 */
export class DeadlineQueue<T extends object> {
  /** Entry to its deadline in epoch ms, oldest first. */
  private readonly deadlines = new Map<T, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly delayMs: number,
    private readonly onExpire: (entry: T) => void,
  ) {}

  add(entry: T): void {
    this.deadlines.set(entry, Date.now() + this.delayMs);
    if (!this.timer) this.arm(this.delayMs);
  }

  /** Removes an entry before its deadline; returns false when it was not queued. */
  delete(entry: T): boolean {
    return this.deadlines.delete(entry);
  }

  get size(): number {
    return this.deadlines.size;
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(this.expire, Math.max(0, delayMs));
  }

  private readonly expire = (): void => {
    this.timer = null;
    const now = Date.now();
    let next: number | null = null;
    try {
      for (const [entry, deadline] of this.deadlines) {
        if (deadline > now) {
          next = deadline;
          break;
        }
        this.deadlines.delete(entry);
        this.onExpire(entry);
      }
    } finally {
      if (next !== null) this.arm(next - now);
      else if (this.deadlines.size > 0) this.arm(0);
    }
  };
}
