import {
  applyPreferencesPatch,
  defaultPreferences,
} from "../../push/preferences.js";
import type { Preferences, PreferencesPatch } from "../../protocol/index.js";
import {
  addToBatch,
  dueTime,
  mergeBatches,
  pushBatchKey,
} from "../../push/batch.js";
import {
  type DecisionLog,
  type DueHandler,
  type PreferencesStore,
  type PushBatch,
  type PushBudget,
  type PushDecision,
  type PushQueue,
  type PushQueueEntry,
  type PushStores,
  type PushTiming,
} from "../types.js";

export class MemoryPreferencesStore implements PreferencesStore {
  private readonly byUser = new Map<string, Preferences>();

  async get(userId: string) {
    return this.byUser.get(userId) ?? defaultPreferences();
  }

  async update(userId: string, patch: PreferencesPatch, now: number) {
    // Read and write without an await in between, so concurrent updates never lose one another.
    const current = this.byUser.get(userId) ?? defaultPreferences();
    const next = applyPreferencesPatch(current, patch, now);
    this.byUser.set(userId, next);
    return next;
  }
}

export class MemoryDecisionLog implements DecisionLog {
  /** Oldest first per user, trimmed to `limit` entries. */
  private readonly byUser = new Map<string, PushDecision[]>();

  constructor(private readonly limit: number) {}

  async record(decision: PushDecision) {
    let entries = this.byUser.get(decision.userId);
    if (!entries) {
      entries = [];
      this.byUser.set(decision.userId, entries);
    }
    entries.push(decision);
    if (entries.length > this.limit) entries.shift();
  }

  async list(userId: string, limit: number) {
    if (limit <= 0) return [];
    return (this.byUser.get(userId) ?? []).slice(-limit).reverse();
  }
}

/**
 * Settled seqs kept before the least recently settled is forgotten. A
 * forgotten key only matters when a viewer leaves a conversation with unread
 * messages that were already pushed: those are pushed once more.
 */
const MAX_SETTLED_KEYS = 100_000;
/** Users with budget entries above which expired entries are swept. */
const BUDGET_SWEEP_THRESHOLD = 10_000;

/**
 * Handlers running at once; further due batches wait in order for a free
 * slot. A message push handler runs until OneSignal responds, and handlers
 * waiting for the same coalesced request hold a slot each, so the bound is
 * above the 2,000 recipients that one request can carry.
 */
const MAX_HANDLERS_RUNNING = 4096;

/** Entry of the due-time heap: the time `key` was last scheduled at. */
interface DueEntry {
  dueAt: number;
  /** Insertion order, so entries due at the same time leave in the order they came. */
  order: number;
  key: string;
}

const before = (a: DueEntry, b: DueEntry) =>
  a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.order < b.order);

/** Binary min-heap of due entries, earliest first. */
class DueHeap {
  private readonly entries: DueEntry[] = [];

  get size(): number {
    return this.entries.length;
  }

  peek(): DueEntry | undefined {
    return this.entries[0];
  }

  push(entry: DueEntry): void {
    const entries = this.entries;
    entries.push(entry);
    let index = entries.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(entry, entries[parent]!)) break;
      entries[index] = entries[parent]!;
      index = parent;
    }
    entries[index] = entry;
  }

  pop(): DueEntry | undefined {
    const entries = this.entries;
    const top = entries[0];
    const last = entries.pop();
    if (entries.length === 0 || !last) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= entries.length) break;
      const right = left + 1;
      const child =
        right < entries.length && before(entries[right]!, entries[left]!)
          ? right
          : left;
      if (!before(entries[child]!, last)) break;
      entries[index] = entries[child]!;
      index = child;
    }
    entries[index] = last;
    return top;
  }
}

/**
 * Queue for one process; batches die with the process. One timer is armed
 * for the earliest due time. When it fires, every due batch is taken from
 * the heap at once and handed to the handler, with at most
 * MAX_HANDLERS_RUNNING handlers running. A wave of thousands of batches due
 * at the same time is so decided concurrently instead of one by one.
 */
export class MemoryPushQueue implements PushQueue {
  /**
   * Pending batches, with the due time of their newest heap entry, and
   * whether they came due and wait in the ready list instead.
   */
  private readonly batches = new Map<
    string,
    { batch: PushBatch; scheduledAt: number; ready: boolean }
  >();
  /** Due times of pending batches. An entry whose time differs from its batch's scheduledAt is stale and skipped. */
  private readonly heap = new DueHeap();
  /** Keys that are due and wait for a free handler slot, oldest first, from index `readyHead` on. */
  private ready: string[] = [];
  private heapOrder = 0;
  private readyHead = 0;
  private running = 0;
  private readonly settled = new Map<string, number>();
  private handler: DueHandler | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerDueAt = Number.POSITIVE_INFINITY;
  private closed = false;

  async add(entry: PushQueueEntry, timing: PushTiming, now: number) {
    const key = pushBatchKey(entry.kind, entry.recipientId, entry.topic);
    const batch = addToBatch(this.batches.get(key)?.batch, entry);
    batch.dueAt = dueTime(batch.firstAt, now, timing);
    this.arm(batch);
  }

  async cancel(key: string, upToSeq?: number) {
    const pending = this.batches.get(key);
    if (!pending) return false;
    if (upToSeq !== undefined && pending.batch.lastSeq > upToSeq) return false;
    // Its heap entry and any ready slot are skipped once the key is gone.
    this.batches.delete(key);
    return true;
  }

  async defer(batch: PushBatch, dueAt: number) {
    const deferred = { ...batch, dueAt };
    const current = this.batches.get(batch.key)?.batch;
    this.arm(current ? mergeBatches(deferred, current) : deferred);
  }

  async getSettledSeq(key: string) {
    return this.settled.get(key) ?? 0;
  }

  async settle(key: string, seq: number) {
    const current = this.settled.get(key) ?? 0;
    if (seq <= current) return;
    // Re-inserting moves the key to the end, so the oldest key is first.
    this.settled.delete(key);
    this.settled.set(key, seq);
    if (this.settled.size > MAX_SETTLED_KEYS) {
      this.settled.delete(this.settled.keys().next().value!);
    }
  }

  start(handler: DueHandler) {
    this.handler = handler;
    this.wake();
  }

  async size() {
    return this.batches.size;
  }

  async close() {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerDueAt = Number.POSITIVE_INFINITY;
  }

  /**
   * Stores the batch as the pending one of its key. A heap entry is added
   * only when the batch is due earlier than its key's entry. A batch whose
   * due time moved later is found when the earlier entry comes due and is
   * scheduled again then, so each key keeps one or two heap entries. A
   * batch in the ready list stays there and is checked when its turn comes.
   */
  private arm(batch: PushBatch) {
    const previous = this.batches.get(batch.key);
    if (previous && (previous.ready || previous.scheduledAt <= batch.dueAt)) {
      previous.batch = batch;
      return;
    }
    this.batches.set(batch.key, {
      batch,
      scheduledAt: batch.dueAt,
      ready: false,
    });
    this.heap.push({
      dueAt: batch.dueAt,
      order: this.heapOrder++,
      key: batch.key,
    });
    if (batch.dueAt < this.timerDueAt) this.wake();
  }

  /** Re-arms the timer for the earliest heap entry. */
  private wake() {
    if (this.closed || !this.handler) return;
    const next = this.heap.peek();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerDueAt = Number.POSITIVE_INFINITY;
    if (!next) return;
    this.timerDueAt = next.dueAt;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerDueAt = Number.POSITIVE_INFINITY;
        this.takeDue();
      },
      Math.max(0, next.dueAt - Date.now()),
    );
  }

  /** Moves every due batch from the heap to the ready list, then starts handlers. */
  private takeDue() {
    if (this.closed) return;
    const now = Date.now();
    for (let top = this.heap.peek(); top && top.dueAt <= now;) {
      this.heap.pop();
      const pending = this.batches.get(top.key);
      if (pending && !pending.ready && pending.scheduledAt === top.dueAt) {
        if (pending.batch.dueAt <= now) {
          pending.ready = true;
          this.ready.push(top.key);
        } else {
          // The due time moved later since this entry was added.
          pending.scheduledAt = pending.batch.dueAt;
          this.heap.push({
            dueAt: pending.batch.dueAt,
            order: this.heapOrder++,
            key: top.key,
          });
        }
      }
      top = this.heap.peek();
    }
    this.startHandlers();
    this.wake();
  }

  /** Hands ready batches to the handler while slots are free. */
  private startHandlers() {
    const handler = this.handler;
    while (
      handler &&
      !this.closed &&
      this.running < MAX_HANDLERS_RUNNING &&
      this.readyHead < this.ready.length
    ) {
      const key = this.ready[this.readyHead++]!;
      const pending = this.batches.get(key);
      // Skipped: cancelled since it came due, or already handed out.
      if (!pending?.ready) continue;
      if (pending.batch.dueAt > Date.now()) {
        // An add while it waited moved its due time later.
        pending.ready = false;
        pending.scheduledAt = pending.batch.dueAt;
        this.heap.push({
          dueAt: pending.batch.dueAt,
          order: this.heapOrder++,
          key,
        });
        this.wake();
        continue;
      }
      this.batches.delete(key);
      this.running++;
      // The push service's handler records its own failures; this only keeps a
      // rejection from becoming an unhandled one.
      handler(pending.batch)
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.startHandlers();
        });
    }
    if (this.readyHead === this.ready.length) {
      this.ready = [];
      this.readyHead = 0;
    }
  }
}

export class MemoryPushBudget implements PushBudget {
  /** Send times per user within the current window, oldest first. */
  private readonly sends = new Map<string, number[]>();

  async take(userId: string, limit: number, windowMs: number, now: number) {
    const recent = (this.sends.get(userId) ?? []).filter(
      (at) => at > now - windowMs,
    );
    if (recent.length >= limit) {
      this.sends.set(userId, recent);
      // With a limit of 0 nothing is ever sent, and a full window is the wait.
      const oldest = recent[0] ?? now;
      return { allowed: false, retryAfterMs: oldest + windowMs - now };
    }
    recent.push(now);
    this.sends.set(userId, recent);
    if (this.sends.size > BUDGET_SWEEP_THRESHOLD) this.sweep(now - windowMs);
    return { allowed: true, retryAfterMs: 0 };
  }

  /** Number of users with sends in the window; used by the churn test. */
  get size() {
    return this.sends.size;
  }

  private sweep(windowStart: number) {
    for (const [userId, times] of this.sends) {
      if (times.at(-1)! <= windowStart) this.sends.delete(userId);
    }
  }
}

export function createMemoryPushStores(options: {
  decisionLogLimit: number;
}): PushStores {
  return {
    preferences: new MemoryPreferencesStore(),
    decisions: new MemoryDecisionLog(options.decisionLogLimit),
    queue: new MemoryPushQueue(),
    budget: new MemoryPushBudget(),
  };
}
