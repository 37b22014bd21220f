import type { Redis } from "ioredis";
import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  it,
  vi,
} from "vitest";
import { AppError } from "../../server/src/protocol/index.js";
import type { PreferencesPatch } from "../../server/src/protocol/index.js";
import { pushBatchKey } from "../../server/src/push/batch.js";
import {
  applyPreferencesPatch,
  defaultPreferences,
} from "../../server/src/push/preferences.js";
import { createMemoryPushStores } from "../../server/src/stores/memory/push.js";
import {
  createRedisPushStores,
  redisKeys,
  type RedisPushStoreOptions,
} from "../../server/src/stores/redis/index.js";
import { SETTLED_SEQ_TTL_MS } from "../../server/src/stores/redis/push-queue.js";
import type {
  DueHandler,
  PushBatch,
  PushDecision,
  PushItem,
  PushQueue,
  PushQueueEntry,
  PushStores,
} from "../../server/src/stores/types.js";
import {
  connectTestRedis,
  deleteKeysWithPrefix,
  keysWithPrefix,
  randomPrefix,
} from "./redis.js";

/**
 * The same push store tests run against the memory and the Redis
 * implementations, followed by tests of what only the Redis queue does:
 * several nodes sharing one queue, and leases.
 */

let redis: Redis;
/** Prefixes of the Redis stores that the running test created. */
const usedPrefixes: string[] = [];
/** Queues that the running test created, closed before its keys are deleted. */
const openQueues: PushQueue[] = [];
/** Extra connections that the running test opened, one per simulated node. */
const openConnections: Redis[] = [];

beforeAll(() => {
  redis = connectTestRedis();
});

afterEach(async () => {
  while (openQueues.length > 0) await openQueues.pop()!.close();
  while (usedPrefixes.length > 0) {
    await deleteKeysWithPrefix(redis, usedPrefixes.pop()!);
  }
  while (openConnections.length > 0) await openConnections.pop()!.quit();
});

afterAll(async () => {
  await redis.quit();
});

/** Time in ms between Redis queue polls in these tests. */
const POLL_INTERVAL_MS = 20;
/**
 * Allowed early firing in ms. Node.js measures timers from the start of
 * the event loop turn, so a memory queue timer can fire about 1 ms before
 * Date.now() reaches the due time.
 */
const TIMER_SLACK_MS = 5;
/** Upper bound in ms on waiting for a batch to fire. */
const FIRE_TIMEOUT_MS = 3000;
const DEFAULT_DECISION_LOG_LIMIT = 100;

interface FactoryOptions {
  decisionLogLimit?: number;
}

interface PushStoreFactory {
  name: string;
  create(options?: FactoryOptions): PushStores;
}

const factories: PushStoreFactory[] = [
  {
    name: "memory",
    create: (options) => {
      const stores = createMemoryPushStores({
        decisionLogLimit:
          options?.decisionLogLimit ?? DEFAULT_DECISION_LOG_LIMIT,
      });
      openQueues.push(stores.queue);
      return stores;
    },
  },
  {
    name: "redis",
    create: (options) =>
      createRedisNode({
        decisionLogLimit:
          options?.decisionLogLimit ?? DEFAULT_DECISION_LOG_LIMIT,
      }),
  },
];

/** Creates Redis push stores under a fresh prefix unless one is given, and cleans them up after the test. */
function createRedisNode(
  options: Partial<RedisPushStoreOptions> = {},
): PushStores {
  const prefix = options.prefix ?? randomPrefix();
  if (!usedPrefixes.includes(prefix)) usedPrefixes.push(prefix);
  const stores = createRedisPushStores({
    redis,
    decisionLogLimit: DEFAULT_DECISION_LOG_LIMIT,
    pollIntervalMs: POLL_INTERVAL_MS,
    ...options,
    prefix,
  });
  openQueues.push(stores.queue);
  return stores;
}

/** Opens a connection of its own for one simulated server node. */
function connectNode(): Redis {
  const connection = connectTestRedis();
  openConnections.push(connection);
  return connection;
}

/** Records each batch a queue hands out and the time it arrived. */
class FiredBatches {
  readonly received: { batch: PushBatch; at: number }[] = [];

  readonly handler: DueHandler = async (batch) => {
    this.received.push({ batch, at: Date.now() });
  };

  get batches(): PushBatch[] {
    return this.received.map((entry) => entry.batch);
  }

  /** Waits until `count` batches arrived, failing after FIRE_TIMEOUT_MS. */
  async waitFor(count: number): Promise<void> {
    await vi.waitFor(
      () => {
        expect(this.received.length).toBeGreaterThanOrEqual(count);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 5 },
    );
  }
}

/** A promise with its resolve function, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

function item(seq: number, actorId: string, at: number): PushItem {
  return {
    id: `m${seq}`,
    seq,
    actorId,
    actorName: actorId.toUpperCase(),
    text: null,
    at,
  };
}

function entry(
  pushItem: PushItem,
  options: {
    recipientId?: string;
    topic?: string;
    meta?: Record<string, string>;
  } = {},
): PushQueueEntry {
  return {
    kind: "message",
    recipientId: options.recipientId ?? "anna",
    topic: options.topic ?? "c1",
    item: pushItem,
    meta: options.meta ?? {},
  };
}

function decision(
  userId: string,
  index: number,
  extra: Partial<PushDecision> = {},
): PushDecision {
  return {
    at: new Date(1_714_557_600_000 + index * 1000).toISOString(),
    userId,
    kind: "message",
    topic: "c1",
    reason: "sent",
    count: index,
    lastItemId: `m${index}`,
    ...extra,
  };
}

const KEY_C1 = pushBatchKey("message", "anna", "c1");

describe.each(factories.map((factory) => [factory.name, factory] as const))(
  "%s push stores",
  (_name, factory) => {
    describe("queue", () => {
      it("add merges items into one batch", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const timing = { debounceMs: 100, maxWaitMs: 1000 };
        const first = item(1, "ben", t0);
        const second = item(2, "cleo", t0 + 10);
        const third = item(3, "ben", t0 + 20);

        await queue.add(entry(first, { meta: { title: "Lunch" } }), timing, t0);
        await queue.add(
          entry(second, { meta: { title: "Lunch 2", place: "Café" } }),
          timing,
          t0 + 10,
        );
        await queue.add(entry(third), timing, t0 + 20);
        expect(await queue.size()).toBe(1);
        await fired.waitFor(1);

        expect(fired.batches).toEqual([
          {
            key: KEY_C1,
            kind: "message",
            recipientId: "anna",
            topic: "c1",
            items: [first, second, third],
            count: 3,
            actors: [
              { id: "ben", name: "BEN" },
              { id: "cleo", name: "CLEO" },
            ],
            lastSeq: 3,
            firstAt: t0,
            dueAt: t0 + 120,
            meta: { title: "Lunch 2", place: "Café" },
          },
        ]);
        expect(fired.received[0]!.at).toBeGreaterThanOrEqual(
          t0 + 120 - TIMER_SLACK_MS,
        );
        expect(await queue.size()).toBe(0);
      });

      it("dueAt is capped by maxWaitMs", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const timing = { debounceMs: 300, maxWaitMs: 100 };

        await queue.add(entry(item(1, "ben", t0)), timing, t0);
        await queue.add(entry(item(2, "ben", t0 + 50)), timing, t0 + 50);
        await fired.waitFor(1);

        const [{ batch, at }] = fired.received as [
          { batch: PushBatch; at: number },
        ];
        expect(batch.dueAt).toBe(t0 + 100);
        expect(batch.firstAt).toBe(t0);
        expect(at).toBeGreaterThanOrEqual(t0 + 100 - TIMER_SLACK_MS);
        expect(at).toBeLessThan(t0 + 300);
      });

      it("add keeps firstAt of the first item", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const timing = { debounceMs: 300, maxWaitMs: 100 };

        await queue.add(entry(item(1, "ben", t0)), timing, t0);
        // An item stamped earlier, as from a node whose clock is behind.
        await queue.add(entry(item(2, "ben", t0 - 500)), timing, t0 + 10);
        await fired.waitFor(1);

        expect(fired.batches[0]?.firstAt).toBe(t0);
        expect(fired.batches[0]?.dueAt).toBe(t0 + 100);
      });

      it("add caps items and actors", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const timing = { debounceMs: 400, maxWaitMs: 5000 };
        const items = Array.from({ length: 102 }, (_, index) =>
          item(index + 1, `user${index + 1}`, t0),
        );

        for (const next of items) await queue.add(entry(next), timing, t0);
        await fired.waitFor(1);

        const [batch] = fired.batches as [PushBatch];
        expect(batch.items).toEqual(items.slice(-10));
        expect(batch.count).toBe(102);
        expect(batch.lastSeq).toBe(102);
        expect(batch.actors).toHaveLength(100);
        expect(batch.actors[0]).toEqual({ id: "user1", name: "USER1" });
        expect(batch.actors.at(-1)).toEqual({ id: "user100", name: "USER100" });
      });

      it("add keeps lastSeq at the maximum", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const timing = { debounceMs: 100, maxWaitMs: 1000 };

        await queue.add(entry(item(7, "ben", t0)), timing, t0);
        await queue.add(entry(item(4, "ben", t0)), timing, t0);
        await fired.waitFor(1);

        expect(fired.batches[0]?.lastSeq).toBe(7);
        expect(fired.batches[0]?.items.map((next) => next.seq)).toEqual([7, 4]);
      });

      it("add keeps text and numbers exact", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const timing = { debounceMs: 100, maxWaitMs: 1000 };
        // A lone surrogate, as a cut between the halves of an emoji leaves it.
        const unusual: PushItem = {
          id: "m/1",
          seq: Number.MAX_SAFE_INTEGER - 1,
          actorId: "ben",
          actorName: 'B\u00e9n "\ud83c" \\',
          text: 'Grüße 🎉 \ud800 "quoted" \\ / \n\t\u0000',
          at: t0,
        };
        const meta = { "ti\ud83ctle": "Caf\u00e9 🎉", "1": "one", empty: "" };

        await queue.add({ ...entry(unusual), topic: "c/1", meta }, timing, t0);
        await fired.waitFor(1);

        const [batch] = fired.batches as [PushBatch];
        expect(batch.items).toEqual([unusual]);
        expect(batch.lastSeq).toBe(Number.MAX_SAFE_INTEGER - 1);
        expect(batch.actors).toEqual([{ id: "ben", name: unusual.actorName }]);
        expect(batch.meta).toEqual(meta);
        expect(batch.topic).toBe("c/1");
        expect(batch.key).toBe(pushBatchKey("message", "anna", "c/1"));
      });

      it("cancel deletes pending batch", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const timing = { debounceMs: 100, maxWaitMs: 1000 };
        await queue.add(entry(item(1, "ben", t0)), timing, t0);

        expect(await queue.cancel(KEY_C1)).toBe(true);
        expect(await queue.size()).toBe(0);
        expect(await queue.cancel(KEY_C1)).toBe(false);

        // The later batch fires after the cancelled one would have.
        await queue.add(
          entry(item(1, "ben", t0), { topic: "c2" }),
          { debounceMs: 200, maxWaitMs: 1000 },
          t0,
        );
        await fired.waitFor(1);
        expect(fired.batches.map((batch) => batch.topic)).toEqual(["c2"]);
      });

      it("cancel with upToSeq keeps newer", async () => {
        const { queue } = factory.create();
        const t0 = Date.now();
        const timing = { debounceMs: 10_000, maxWaitMs: 20_000 };
        await queue.add(entry(item(3, "ben", t0)), timing, t0);
        await queue.add(entry(item(5, "ben", t0)), timing, t0);

        expect(await queue.cancel(KEY_C1, 4)).toBe(false);
        expect(await queue.size()).toBe(1);
        expect(await queue.cancel(KEY_C1, 5)).toBe(true);
        expect(await queue.size()).toBe(0);
        expect(await queue.cancel(KEY_C1, 10)).toBe(false);
      });

      it("cancel affects only its key", async () => {
        const { queue } = factory.create();
        const t0 = Date.now();
        const timing = { debounceMs: 10_000, maxWaitMs: 20_000 };
        await queue.add(entry(item(1, "ben", t0)), timing, t0);
        await queue.add(entry(item(1, "ben", t0), { topic: "c2" }), timing, t0);
        await queue.add(
          entry(item(1, "ben", t0), { recipientId: "cleo" }),
          timing,
          t0,
        );

        expect(await queue.cancel(KEY_C1)).toBe(true);
        expect(await queue.size()).toBe(2);
      });

      it("defer merges with batch created since", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        const t0 = Date.now();
        const newItem = item(3, "cleo", t0);
        await queue.add(
          entry(newItem, { meta: { title: "New", extra: "1" } }),
          { debounceMs: 150, maxWaitMs: 1000 },
          t0,
        );
        const putBack: PushBatch = {
          key: KEY_C1,
          kind: "message",
          recipientId: "anna",
          topic: "c1",
          items: [item(1, "ben", t0 - 1000), item(2, "ben", t0 - 900)],
          count: 4,
          actors: [{ id: "ben", name: "BEN" }],
          lastSeq: 2,
          firstAt: t0 - 1000,
          dueAt: t0 - 800,
          meta: { title: "Old", kept: "yes" },
        };

        await queue.defer(putBack, t0 + 100);
        expect(await queue.size()).toBe(1);
        queue.start(fired.handler);
        await fired.waitFor(1);

        expect(fired.batches).toEqual([
          {
            ...putBack,
            items: [...putBack.items, newItem],
            count: 5,
            actors: [
              { id: "ben", name: "BEN" },
              { id: "cleo", name: "CLEO" },
            ],
            lastSeq: 3,
            firstAt: t0 - 1000,
            dueAt: t0 + 150,
            meta: { title: "New", kept: "yes", extra: "1" },
          },
        ]);
        expect(fired.received[0]!.at).toBeGreaterThanOrEqual(
          t0 + 150 - TIMER_SLACK_MS,
        );
      });

      it("defer alone fires at its dueAt", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const putBack: PushBatch = {
          key: KEY_C1,
          kind: "message",
          recipientId: "anna",
          topic: "c1",
          items: [item(1, "ben", t0 - 1000)],
          count: 1,
          actors: [{ id: "ben", name: "BEN" }],
          lastSeq: 1,
          firstAt: t0 - 1000,
          dueAt: t0 - 900,
          meta: {},
        };

        await queue.defer(putBack, t0 + 100);
        await fired.waitFor(1);

        expect(fired.batches).toEqual([{ ...putBack, dueAt: t0 + 100 }]);
        expect(fired.received[0]!.at).toBeGreaterThanOrEqual(
          t0 + 100 - TIMER_SLACK_MS,
        );
      });

      it("defer of a batch without items", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const empty: PushBatch = {
          key: KEY_C1,
          kind: "message",
          recipientId: "anna",
          topic: "c1",
          items: [],
          count: 0,
          actors: [],
          lastSeq: 0,
          firstAt: t0,
          dueAt: t0,
          meta: {},
        };

        await queue.defer(empty, t0 + 50);
        await fired.waitFor(1);

        expect(fired.batches).toEqual([{ ...empty, dueAt: t0 + 50 }]);
      });

      it("settle raises only", async () => {
        const { queue } = factory.create();
        const other = pushBatchKey("message", "anna", "c2");

        expect(await queue.getSettledSeq(KEY_C1)).toBe(0);
        await queue.settle(KEY_C1, 5);
        expect(await queue.getSettledSeq(KEY_C1)).toBe(5);
        await queue.settle(KEY_C1, 3);
        expect(await queue.getSettledSeq(KEY_C1)).toBe(5);
        await queue.settle(KEY_C1, 8);
        expect(await queue.getSettledSeq(KEY_C1)).toBe(8);
        expect(await queue.getSettledSeq(other)).toBe(0);
      });

      it("concurrent settles keep the maximum", async () => {
        const { queue } = factory.create();
        const seqs = Array.from({ length: 30 }, (_, index) => (index * 7) % 31);

        await Promise.all(seqs.map((seq) => queue.settle(KEY_C1, seq)));

        expect(await queue.getSettledSeq(KEY_C1)).toBe(Math.max(...seqs));
      });

      it("start fires each batch once after due", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        const t0 = Date.now();
        const topics = ["c1", "c2", "c3", "c4", "c5"];

        for (const [index, topic] of topics.entries()) {
          await queue.add(
            entry(item(1, "ben", t0), { topic }),
            { debounceMs: 50 + index * 30, maxWaitMs: 1000 },
            t0,
          );
        }
        await fired.waitFor(topics.length);
        // A batch that fires later shows whether any batch fired twice.
        await queue.add(
          entry(item(1, "ben", t0), { topic: "last" }),
          { debounceMs: 100, maxWaitMs: 1000 },
          Date.now(),
        );
        await fired.waitFor(topics.length + 1);

        expect(fired.batches.map((batch) => batch.topic)).toEqual([
          ...topics,
          "last",
        ]);
        for (const { batch, at } of fired.received) {
          expect(at).toBeGreaterThanOrEqual(batch.dueAt - TIMER_SLACK_MS);
          expect(at - batch.dueAt).toBeLessThan(500);
        }
        expect(await queue.size()).toBe(0);
      });

      it("fires 2,000 batches due together once each", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        let running = 0;
        let maxRunning = 0;
        queue.start(async (batch) => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await fired.handler(batch);
          // A handler that waits, like one waiting for its OneSignal request.
          await sleep(20);
          running--;
        });
        const t0 = Date.now();
        const timing = { debounceMs: 100, maxWaitMs: 1000 };
        const recipients = Array.from(
          { length: 2000 },
          (_, index) => `u${index}`,
        );

        await Promise.all(
          recipients.map((recipientId) =>
            queue.add(entry(item(1, "ben", t0), { recipientId }), timing, t0),
          ),
        );
        await vi.waitFor(
          () => {
            expect(fired.received.length).toBeGreaterThanOrEqual(2000);
          },
          { timeout: 10_000, interval: 20 },
        );
        await sleep(100);

        const keys = fired.batches.map((batch) => batch.recipientId);
        expect(keys).toHaveLength(2000);
        expect(new Set(keys).size).toBe(2000);
        // Handlers run side by side, not one after another.
        expect(maxRunning).toBeGreaterThan(100);
        const lateness = fired.received.map(
          ({ batch, at }) => at - batch.dueAt,
        );
        expect(Math.min(...lateness)).toBeGreaterThanOrEqual(-TIMER_SLACK_MS);
        expect(Math.max(...lateness)).toBeLessThan(2000);
        expect(await queue.size()).toBe(0);
      });

      it("add during handler makes a new batch", async () => {
        const { queue } = factory.create();
        const handlerGate = gate();
        const fired = new FiredBatches();
        queue.start(async (batch) => {
          await fired.handler(batch);
          if (fired.received.length === 1) await handlerGate.promise;
        });
        const t0 = Date.now();
        const timing = { debounceMs: 50, maxWaitMs: 1000 };
        await queue.add(entry(item(1, "ben", t0)), timing, t0);
        await fired.waitFor(1);

        const now = Date.now();
        await queue.add(entry(item(2, "cleo", now)), timing, now);
        expect(await queue.size()).toBe(1);
        await fired.waitFor(2);
        handlerGate.open();

        const [, second] = fired.batches as [PushBatch, PushBatch];
        expect(second.items.map((next) => next.seq)).toEqual([2]);
        expect(second.count).toBe(1);
        expect(second.firstAt).toBe(now);
      });

      it("close stops firing and keeps batches", async () => {
        const { queue } = factory.create();
        const fired = new FiredBatches();
        queue.start(fired.handler);
        await queue.close();
        const t0 = Date.now();

        await queue.add(
          entry(item(1, "ben", t0)),
          { debounceMs: 20, maxWaitMs: 1000 },
          t0,
        );
        await sleep(150);

        expect(fired.received).toEqual([]);
        expect(await queue.size()).toBe(1);
      });
    });

    describe("decisions", () => {
      it("record trims and lists newest first", async () => {
        const { decisions } = factory.create({ decisionLogLimit: 3 });
        const anna = [1, 2, 3, 4, 5].map((index) => decision("anna", index));
        const ben = decision("ben", 1);

        for (const next of anna) await decisions.record(next);
        await decisions.record(ben);

        expect(await decisions.list("anna", 10)).toEqual([
          anna[4],
          anna[3],
          anna[2],
        ]);
        expect(await decisions.list("anna", 2)).toEqual([anna[4], anna[3]]);
        expect(await decisions.list("ben", 10)).toEqual([ben]);
        expect(await decisions.list("cleo", 10)).toEqual([]);
      });

      it("record keeps optional fields", async () => {
        const { decisions } = factory.create();
        const sent = decision("anna", 1, {
          notificationId: "b1a2c3d4-0000-4000-8000-000000000001",
          detail: "delivered",
        });
        const deferred = decision("anna", 2, {
          reason: "budget_exceeded",
          detail: "deferred until 2024-05-01T10:01:00.000Z",
        });

        await decisions.record(sent);
        await decisions.record(deferred);

        const listed = await decisions.list("anna", 10);
        expect(listed).toEqual([deferred, sent]);
        expect(listed[0]).not.toHaveProperty("notificationId");
      });
    });

    describe("preferences", () => {
      it("get returns defaults for new user", async () => {
        const { preferences } = factory.create();

        expect(await preferences.get("anna")).toEqual(defaultPreferences());
      });

      it("update applies the patch", async () => {
        const { preferences } = factory.create();
        const now = Date.parse("2024-05-01T10:00:00.000Z");
        const patch: PreferencesPatch = {
          pushEnabled: false,
          quietHours: {
            start: "22:00",
            end: "07:00",
            timeZone: "Europe/Berlin",
          },
          snoozeUntil: "2024-05-01T13:00:00+02:00",
          mute: [
            { conversationId: "c1", until: "2024-05-02T10:00:00.000Z" },
            { conversationId: "c2" },
            { conversationId: "c3", until: null },
          ],
          unmute: ["c3"],
          disabledActivities: ["like", "like", "follow"],
        };

        const updated = await preferences.update("anna", patch, now);

        const expected = applyPreferencesPatch(
          defaultPreferences(),
          patch,
          now,
        );
        expect(updated).toEqual(expected);
        expect(updated.mutedConversations).toEqual({
          c1: "2024-05-02T10:00:00.000Z",
          c2: null,
        });
        expect(updated.snoozeUntil).toBe("2024-05-01T11:00:00.000Z");
        expect(await preferences.get("anna")).toEqual(expected);
        expect(await preferences.get("ben")).toEqual(defaultPreferences());
      });

      it("update builds on stored preferences", async () => {
        const { preferences } = factory.create();
        const now = Date.parse("2024-05-01T10:00:00.000Z");
        await preferences.update(
          "anna",
          { pushEnabled: false, mute: [{ conversationId: "c1" }] },
          now,
        );

        const updated = await preferences.update(
          "anna",
          { mute: [{ conversationId: "c2" }], unmute: ["c1"] },
          now,
        );

        expect(updated.pushEnabled).toBe(false);
        expect(updated.mutedConversations).toEqual({ c2: null });
      });

      it("update drops expired mutes", async () => {
        const { preferences } = factory.create();
        const now = Date.parse("2024-05-01T10:00:00.000Z");
        await preferences.update(
          "anna",
          {
            mute: [
              { conversationId: "c1", until: "2024-05-01T10:00:01.000Z" },
              { conversationId: "c2" },
            ],
            snoozeUntil: "2024-05-01T10:00:01.000Z",
          },
          now,
        );

        const later = await preferences.update("anna", {}, now + 2000);

        expect(later.mutedConversations).toEqual({ c2: null });
        expect(later.snoozeUntil).toBeNull();
        expect(await preferences.get("anna")).toEqual(later);
      });

      it("10 concurrent updates all apply", async () => {
        const { preferences } = factory.create();
        const now = Date.now();
        const ids = Array.from({ length: 10 }, (_, index) => `c${index}`);

        await Promise.all(
          ids.map((conversationId) =>
            preferences.update("anna", { mute: [{ conversationId }] }, now),
          ),
        );

        const stored = await preferences.get("anna");
        expect(Object.keys(stored.mutedConversations).sort()).toEqual(
          [...ids].sort(),
        );
      });

      it("too many mutes rejects and stores nothing", async () => {
        const { preferences } = factory.create();
        const now = Date.now();
        const mute = Array.from({ length: 1001 }, (_, index) => ({
          conversationId: `c${index}`,
        }));

        const update = preferences.update("anna", { mute }, now);

        await expect(update).rejects.toBeInstanceOf(AppError);
        await expect(update).rejects.toMatchObject({
          code: "payload_too_large",
        });
        expect(await preferences.get("anna")).toEqual(defaultPreferences());
      });
    });

    describe("budget", () => {
      it("take allows limit then rejects", async () => {
        const { budget } = factory.create();
        const t0 = Date.now();
        const windowMs = 60_000;

        const allowedTakes = [
          await budget.take("anna", 3, windowMs, t0),
          await budget.take("anna", 3, windowMs, t0 + 10),
          await budget.take("anna", 3, windowMs, t0 + 20),
        ];
        const rejected = await budget.take("anna", 3, windowMs, t0 + 30);

        expect(allowedTakes).toEqual([
          { allowed: true, retryAfterMs: 0 },
          { allowed: true, retryAfterMs: 0 },
          { allowed: true, retryAfterMs: 0 },
        ]);
        expect(rejected).toEqual({ allowed: false, retryAfterMs: 59_970 });
      });

      it("take frees after the window", async () => {
        const { budget } = factory.create();
        const t0 = Date.now();
        const windowMs = 60_000;
        await budget.take("anna", 3, windowMs, t0);
        await budget.take("anna", 3, windowMs, t0 + 10);
        await budget.take("anna", 3, windowMs, t0 + 20);

        const beforeFree = await budget.take("anna", 3, windowMs, t0 + 59_999);
        const freed = await budget.take("anna", 3, windowMs, t0 + 60_000);
        const full = await budget.take("anna", 3, windowMs, t0 + 60_001);

        expect(beforeFree).toEqual({ allowed: false, retryAfterMs: 1 });
        expect(freed).toEqual({ allowed: true, retryAfterMs: 0 });
        expect(full).toEqual({ allowed: false, retryAfterMs: 9 });
      });

      it("take counts sends in the same millisecond", async () => {
        const { budget } = factory.create();
        const t0 = Date.now();

        const results = await Promise.all(
          Array.from({ length: 5 }, () => budget.take("anna", 3, 60_000, t0)),
        );

        expect(results.filter((result) => result.allowed)).toHaveLength(3);
        expect(results.filter((result) => !result.allowed)).toEqual([
          { allowed: false, retryAfterMs: 60_000 },
          { allowed: false, retryAfterMs: 60_000 },
        ]);
      });

      it("take keeps users apart", async () => {
        const { budget } = factory.create();
        const t0 = Date.now();
        await budget.take("anna", 1, 60_000, t0);

        expect(await budget.take("ben", 1, 60_000, t0)).toEqual({
          allowed: true,
          retryAfterMs: 0,
        });
        expect((await budget.take("anna", 1, 60_000, t0)).allowed).toBe(false);
      });
    });
  },
);

describe("redis push stores", () => {
  it("two nodes fire 50 batches once each", async () => {
    const prefix = randomPrefix();
    const nodes = [
      createRedisNode({ prefix, redis: connectNode(), nodeId: "node-a" }),
      createRedisNode({ prefix, redis: connectNode(), nodeId: "node-b" }),
    ];
    const fired = [new FiredBatches(), new FiredBatches()];
    nodes.forEach((node, index) => node.queue.start(fired[index]!.handler));
    const t0 = Date.now();
    const topics = Array.from({ length: 50 }, (_, index) => `c${index}`);

    await Promise.all(
      topics.map((topic, index) =>
        nodes[index % 2]!.queue.add(
          entry(item(1, "ben", t0), { topic }),
          { debounceMs: 50 + (index % 5) * 20, maxWaitMs: 1000 },
          t0,
        ),
      ),
    );
    await vi.waitFor(
      () => {
        const total = fired[0]!.received.length + fired[1]!.received.length;
        expect(total).toBeGreaterThanOrEqual(topics.length);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 5 },
    );
    // Several more polls of both nodes, to catch a batch that fires twice.
    await sleep(POLL_INTERVAL_MS * 5);

    const firedTopics = [...fired[0]!.batches, ...fired[1]!.batches].map(
      (batch) => batch.topic,
    );
    expect(firedTopics).toHaveLength(topics.length);
    expect(firedTopics.sort()).toEqual([...topics].sort());
    expect(await nodes[0]!.queue.size()).toBe(0);
    expect(await redis.hlen(redisKeys(prefix).pushClaims())).toBe(0);
    expect(await redis.zcard(redisKeys(prefix).pushLeases())).toBe(0);
  });

  it("expired claim moves to another node", async () => {
    const prefix = randomPrefix();
    const keys = redisKeys(prefix);
    const leaseMs = 300;
    const first = createRedisNode({
      prefix,
      redis: connectNode(),
      nodeId: "node-a",
      leaseMs,
    });
    const firstHeld = gate();
    const firstFired = new FiredBatches();
    first.queue.start(async (batch) => {
      await firstFired.handler(batch);
      await firstHeld.promise;
    });
    const t0 = Date.now();
    await first.queue.add(
      entry(item(1, "ben", t0)),
      { debounceMs: 20, maxWaitMs: 1000 },
      t0,
    );
    await firstFired.waitFor(1);
    const claimedAt = Date.now();
    await first.queue.close();
    expect(await redis.hkeys(keys.pushClaims())).toEqual([
      expect.stringMatching(/^node-a:/),
    ]);

    const second = createRedisNode({
      prefix,
      redis: connectNode(),
      nodeId: "node-b",
      leaseMs,
    });
    const secondHeld = gate();
    const secondFired = new FiredBatches();
    second.queue.start(async (batch) => {
      await secondFired.handler(batch);
      await secondHeld.promise;
    });
    await secondFired.waitFor(1);

    expect(secondFired.batches).toEqual(firstFired.batches);
    expect(secondFired.received[0]!.at - claimedAt).toBeGreaterThanOrEqual(
      leaseMs - TIMER_SLACK_MS - 50,
    );
    const secondClaims = await redis.hkeys(keys.pushClaims());
    expect(secondClaims).toEqual([expect.stringMatching(/^node-b:/)]);

    // The first node's late release must not delete the second node's claim.
    firstHeld.open();
    await sleep(50);
    expect(await redis.hkeys(keys.pushClaims())).toEqual(secondClaims);

    secondHeld.open();
    await vi.waitFor(
      async () => {
        expect(await redis.hlen(keys.pushClaims())).toBe(0);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 10 },
    );
    expect(await redis.zcard(keys.pushLeases())).toBe(0);
  });

  it("running handler keeps its lease", async () => {
    const prefix = randomPrefix();
    const keys = redisKeys(prefix);
    const leaseMs = 150;
    const first = createRedisNode({
      prefix,
      redis: connectNode(),
      nodeId: "node-a",
      leaseMs,
    });
    const handlerGate = gate();
    const firstFired = new FiredBatches();
    first.queue.start(async (batch) => {
      await firstFired.handler(batch);
      await handlerGate.promise;
    });
    const t0 = Date.now();
    await first.queue.add(
      entry(item(1, "ben", t0)),
      { debounceMs: 20, maxWaitMs: 1000 },
      t0,
    );
    await firstFired.waitFor(1);
    const second = createRedisNode({
      prefix,
      redis: connectNode(),
      nodeId: "node-b",
      leaseMs,
    });
    const secondFired = new FiredBatches();
    second.queue.start(secondFired.handler);

    await sleep(leaseMs * 4);

    // An expired lease would hand the batch out again, to either node.
    expect(firstFired.received).toHaveLength(1);
    expect(secondFired.received).toEqual([]);
    expect(await redis.hkeys(keys.pushClaims())).toEqual([
      expect.stringMatching(/^node-a:/),
    ]);
    handlerGate.open();
    await vi.waitFor(
      async () => {
        expect(await redis.hlen(keys.pushClaims())).toBe(0);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 10 },
    );
    expect(secondFired.received).toEqual([]);
  });

  it("claim is released when the handler settles", async () => {
    const prefix = randomPrefix();
    const keys = redisKeys(prefix);
    const { queue } = createRedisNode({ prefix });
    const handlerGate = gate();
    const fired = new FiredBatches();
    queue.start(async (batch) => {
      await fired.handler(batch);
      await handlerGate.promise;
    });
    const t0 = Date.now();
    await queue.add(
      entry(item(1, "ben", t0)),
      { debounceMs: 20, maxWaitMs: 1000 },
      t0,
    );
    await fired.waitFor(1);

    expect(await redis.hlen(keys.pushClaims())).toBe(1);
    expect(await queue.size()).toBe(0);
    handlerGate.open();
    await vi.waitFor(
      async () => {
        expect(await redis.hlen(keys.pushClaims())).toBe(0);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 10 },
    );
    expect(await redis.zcard(keys.pushLeases())).toBe(0);
  });

  it("failed polls are reported and retried", async () => {
    const prefix = randomPrefix();
    const keys = redisKeys(prefix);
    const errors: unknown[] = [];
    const { queue } = createRedisNode({
      prefix,
      onError: (error) => errors.push(error),
    });
    // A string where the due set belongs makes every claim fail with WRONGTYPE.
    await redis.set(keys.pushDue(), "not a sorted set");
    const fired = new FiredBatches();
    queue.start(fired.handler);

    await vi.waitFor(
      () => {
        expect(errors.length).toBeGreaterThanOrEqual(2);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 5 },
    );
    expect(String(errors[0])).toMatch(/WRONGTYPE/);
    await redis.del(keys.pushDue());
    const t0 = Date.now();
    await queue.add(
      entry(item(1, "ben", t0)),
      { debounceMs: 20, maxWaitMs: 1000 },
      t0,
    );
    await fired.waitFor(1);

    expect(fired.batches[0]?.key).toBe(KEY_C1);
  });

  it("invalid batch record is reported and dropped", async () => {
    const prefix = randomPrefix();
    const keys = redisKeys(prefix);
    const errors: unknown[] = [];
    const { queue } = createRedisNode({
      prefix,
      onError: (error) => errors.push(error),
    });
    await redis.hset(keys.pushBatches(), KEY_C1, '{"head":"{}"}');
    await redis.zadd(keys.pushDue(), 0, KEY_C1);
    const fired = new FiredBatches();
    queue.start(fired.handler);

    await vi.waitFor(
      () => {
        expect(errors).toHaveLength(1);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 5 },
    );
    expect(String(errors[0])).toMatch(/Invalid push batch in Redis/);
    await vi.waitFor(
      async () => {
        expect(await redis.hlen(keys.pushClaims())).toBe(0);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 10 },
    );
    expect(fired.received).toEqual([]);
    expect(await queue.size()).toBe(0);
  });

  it("handler errors go to onError", async () => {
    const errors: unknown[] = [];
    const { queue } = createRedisNode({
      onError: (error) => errors.push(error),
    });
    const failure = new Error("handler failed");
    queue.start(async () => {
      throw failure;
    });
    const t0 = Date.now();

    await queue.add(
      entry(item(1, "ben", t0)),
      { debounceMs: 20, maxWaitMs: 1000 },
      t0,
    );

    await vi.waitFor(
      () => {
        expect(errors).toEqual([failure]);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 5 },
    );
  });

  it("close waits for a running poll", async () => {
    const prefix = randomPrefix();
    const keys = redisKeys(prefix);
    const { queue } = createRedisNode({ prefix });
    const fired = new FiredBatches();
    const t0 = Date.now();
    await queue.add(
      entry(item(1, "ben", t0)),
      { debounceMs: 0, maxWaitMs: 1000 },
      t0,
    );

    // The first poll starts on the next timer turn and claims the due batch.
    queue.start(fired.handler);
    await sleep(0);
    await queue.close();

    expect(fired.batches.map((batch) => batch.key)).toEqual([KEY_C1]);
    expect(await redis.ping()).toBe("PONG");
    expect(await redis.hlen(keys.pushBatches())).toBe(0);
  });

  it("settled seq expires after a TTL", async () => {
    const prefix = randomPrefix();
    const { queue } = createRedisNode({ prefix });

    await queue.settle(KEY_C1, 4);

    const ttl = await redis.pttl(redisKeys(prefix).pushSettled(KEY_C1));
    expect(ttl).toBeGreaterThan(SETTLED_SEQ_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(SETTLED_SEQ_TTL_MS);
  });

  it("budget set expires with its window", async () => {
    const prefix = randomPrefix();
    const { budget } = createRedisNode({ prefix });
    const key = redisKeys(prefix).pushBudget("anna");

    await budget.take("anna", 3, 200, Date.now());

    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(200);
    await vi.waitFor(
      async () => {
        expect(await redis.exists(key)).toBe(0);
      },
      { timeout: FIRE_TIMEOUT_MS, interval: 20 },
    );
  });

  it("budget rejects a fractional window", async () => {
    const { budget } = createRedisNode();

    await expect(budget.take("anna", 3, 0.5, Date.now())).rejects.toThrow(
      /windowMs/,
    );
  });

  it("decision list stays trimmed", async () => {
    const prefix = randomPrefix();
    const { decisions } = createRedisNode({ prefix, decisionLogLimit: 3 });

    for (let index = 1; index <= 10; index++) {
      await decisions.record(decision("anna", index));
    }

    expect(await redis.llen(redisKeys(prefix).pushDecisions("anna"))).toBe(3);
  });

  it("invalid stored preferences fail loudly", async () => {
    const prefix = randomPrefix();
    const { preferences } = createRedisNode({ prefix });
    await redis.set(
      redisKeys(prefix).preferences("anna"),
      JSON.stringify({ pushEnabled: "yes" }),
    );

    await expect(preferences.get("anna")).rejects.toThrow(
      /Invalid push preferences in Redis/,
    );
  });

  it("keys stay under the prefix", async () => {
    const prefix = randomPrefix();
    const keys = redisKeys(prefix);
    const stores = createRedisNode({ prefix });
    const t0 = Date.now();
    await stores.queue.add(
      entry(item(1, "ben", t0)),
      { debounceMs: 10_000, maxWaitMs: 20_000 },
      t0,
    );
    await stores.queue.settle(KEY_C1, 1);
    await stores.preferences.update("anna", { pushEnabled: false }, t0);
    await stores.decisions.record(decision("anna", 1));
    await stores.budget.take("anna", 3, 60_000, t0);

    expect(await keysWithPrefix(redis, prefix)).toEqual(
      [
        keys.pushBatches(),
        keys.pushDue(),
        keys.pushSettled(KEY_C1),
        keys.preferences("anna"),
        keys.pushDecisions("anna"),
        keys.pushBudget("anna"),
      ].sort(),
    );
  });

  it("rejects invalid options", () => {
    const valid = { redis, prefix: randomPrefix(), decisionLogLimit: 10 };

    expect(() => createRedisPushStores({ ...valid, prefix: "" })).toThrow(
      /prefix/,
    );
    expect(() =>
      createRedisPushStores({ ...valid, decisionLogLimit: 0 }),
    ).toThrow(/decisionLogLimit/);
    expect(() =>
      createRedisPushStores({ ...valid, pollIntervalMs: 0 }),
    ).toThrow(/pollIntervalMs/);
    expect(() => createRedisPushStores({ ...valid, leaseMs: 0.5 })).toThrow(
      /leaseMs/,
    );
    expect(() => createRedisPushStores({ ...valid, nodeId: "" })).toThrow(
      /nodeId/,
    );
  });
});
