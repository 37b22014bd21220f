/**
 * Deadlines that all lie the same time after they are added, so they
 * expire in the order they were added. One map and one timer serve all of
 * them, where a timer each would cost a timer object and its closure per
 * entry. The map keeps insertion order, so the oldest entry is always
 * first, and an entry deleted before its deadline is gone at once, which
 * lets it be collected while it is still young.
 */
export class DeadlineQueue<T> {
  /** Entries by the id that add() returned, oldest first. */
  private readonly entries = new Map<number, { entry: T; deadline: number }>();
  private nextId = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly delayMs: number,
    private readonly onExpire: (entry: T) => void,
  ) {}

  /** Queues an entry and returns its id, for delete(). */
  add(entry: T): number {
    const id = this.nextId++;
    this.entries.set(id, { entry, deadline: Date.now() + this.delayMs });
    if (!this.timer) this.arm(this.delayMs);
    return id;
  }

  /** Removes an entry before its deadline; returns false when it was not queued. */
  delete(id: number): boolean {
    return this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(this.expire, Math.max(0, delayMs));
  }

  private readonly expire = (): void => {
    this.timer = null;
    const now = Date.now();
    let next: number | null = null;
    try {
      for (const [id, queued] of this.entries) {
        if (queued.deadline > now) {
          next = queued.deadline;
          break;
        }
        this.entries.delete(id);
        this.onExpire(queued.entry);
      }
    } finally {
      if (next !== null) this.arm(next - now);
      else if (this.entries.size > 0) this.arm(0);
    }
  };
}
