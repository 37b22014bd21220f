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

/** Timer-per-batch queue for one process; batches die with the process. */
export class MemoryPushQueue implements PushQueue {
  private readonly batches = new Map<
    string,
    { batch: PushBatch; timer: NodeJS.Timeout | null }
  >();
  private readonly settled = new Map<string, number>();
  private handler: DueHandler | null = null;
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
    if (pending.timer) clearTimeout(pending.timer);
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
  }

  async size() {
    return this.batches.size;
  }

  async close() {
    this.closed = true;
    for (const { timer } of this.batches.values()) {
      if (timer) clearTimeout(timer);
    }
  }

  private arm(batch: PushBatch) {
    const previous = this.batches.get(batch.key);
    if (previous?.timer) clearTimeout(previous.timer);
    const entry = { batch, timer: null as NodeJS.Timeout | null };
    this.batches.set(batch.key, entry);
    if (this.closed) return;
    entry.timer = setTimeout(
      () => this.fire(batch.key),
      Math.max(0, batch.dueAt - Date.now()),
    );
  }

  private fire(key: string) {
    const pending = this.batches.get(key);
    if (!pending || !this.handler) return;
    this.batches.delete(key);
    // The push service's handler records its own failures; this only keeps a
    // rejection from becoming an unhandled one.
    this.handler(pending.batch).catch(() => undefined);
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
