/** An entry with a deadline; one that is settled before it expires is skipped. */
export interface Deadline {
  /** Epoch ms; set by DeadlineQueue.add. */
  deadline: number;
  settled: boolean;
}

/** Expired entries at the front of the array above which it is compacted. */
const COMPACT_AFTER = 1024;

/**
 * Deadlines that all lie the same time after they are added, so they
 * expire in the order they were added. One array and one timer serve all
 * of them, where a timer each would cost a timer object and its closure per
 * entry. Entries settled early stay queued until their deadline and are
 * then dropped.
 */
export class DeadlineQueue<T extends Deadline> {
  private entries: (T | undefined)[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly delayMs: number,
    private readonly onExpire: (entry: T) => void,
  ) {}

  add(entry: T): void {
    entry.deadline = Date.now() + this.delayMs;
    this.entries.push(entry);
    if (!this.timer) this.arm(this.delayMs);
  }

  /** Entries still queued, settled or not. */
  get size(): number {
    return this.entries.length - this.head;
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(this.expire, Math.max(0, delayMs));
  }

  private readonly expire = (): void => {
    this.timer = null;
    const now = Date.now();
    try {
      while (this.head < this.entries.length) {
        const entry = this.entries[this.head]!;
        if (entry.deadline > now) break;
        this.entries[this.head] = undefined;
        this.head += 1;
        if (!entry.settled) {
          entry.settled = true;
          this.onExpire(entry);
        }
      }
    } finally {
      this.rearm(now);
    }
  };

  /** Compacts the array and sets the timer for the next entry still queued. */
  private rearm(now: number): void {
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    if (this.head < this.entries.length) {
      this.arm(this.entries[this.head]!.deadline - now);
    } else {
      this.entries = [];
      this.head = 0;
    }
  }
}
