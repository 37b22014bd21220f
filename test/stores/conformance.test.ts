import { randomUUID } from "node:crypto";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChatMessage } from "../../server/src/protocol/index.js";
import { createMemoryStores } from "../../server/src/stores/memory/index.js";
import {
  createRedisStores,
  nodeSocketMember,
  redisKeys,
} from "../../server/src/stores/redis/index.js";
import type {
  Conversation,
  DeviceAttention,
  MessageDraft,
  SendQuota,
  Stores,
} from "../../server/src/stores/types.js";
import {
  connectTestRedis,
  deleteKeysWithPrefix,
  keysWithPrefix,
  randomPrefix,
} from "./redis.js";

/**
 * The same tests run against every store implementation, so the Redis stores
 * cannot drift from the memory stores that the rest of the tests use.
 */

let redis: Redis;
/** Prefixes of the Redis stores that the running test created. */
const usedPrefixes: string[] = [];

beforeAll(() => {
  redis = connectTestRedis();
});

afterEach(async () => {
  while (usedPrefixes.length > 0) {
    await deleteKeysWithPrefix(redis, usedPrefixes.pop()!);
  }
});

afterAll(async () => {
  await redis.quit();
});

interface StoreOptions {
  historyLimit?: number;
  sendQuota?: SendQuota;
}

interface StoreFactory {
  name: string;
  create(options?: StoreOptions): Stores;
}

const DEFAULT_HISTORY_LIMIT = 1000;

const factories: StoreFactory[] = [
  {
    name: "memory",
    create: (options) =>
      createMemoryStores({
        historyLimit: options?.historyLimit ?? DEFAULT_HISTORY_LIMIT,
        sendQuota: options?.sendQuota,
      }),
  },
  {
    name: "redis",
    create: (options) => {
      const prefix = randomPrefix();
      usedPrefixes.push(prefix);
      return createRedisStores({
        redis,
        prefix,
        historyLimit: options?.historyLimit ?? DEFAULT_HISTORY_LIMIT,
        sendQuota: options?.sendQuota,
      });
    },
  },
];

function conversation(
  id: string,
  memberIds: string[],
  title: string | null = null,
): Conversation {
  return {
    id,
    kind: memberIds.length === 2 ? "direct" : "group",
    title,
    memberIds: [...memberIds].sort(),
    createdAt: "2024-05-01T10:00:00.000Z",
  };
}

function draft(
  conversationId: string,
  senderId: string,
  clientMessageId: string,
  text = `text of ${clientMessageId}`,
): MessageDraft {
  return {
    id: randomUUID(),
    conversationId,
    senderId,
    senderName: senderId.toUpperCase(),
    text,
    clientMessageId,
    createdAt: "2024-05-01T10:00:00.000Z",
  };
}

function device(
  userId: string,
  socketId: string,
  overrides: Partial<DeviceAttention> = {},
): DeviceAttention {
  return {
    socketId,
    userId,
    nodeId: "node-a",
    appState: "foreground",
    openConversationId: null,
    connectedAt: 1_714_557_600_000,
    changedAt: 1_714_557_600_000,
    ackMissedAt: null,
    ...overrides,
  };
}

/** Appends a draft and fails the test when the store returns over quota. */
async function appendOk(stores: Stores, next: MessageDraft) {
  const result = await stores.messages.append(next);
  if (result.retryAfterMs !== undefined) {
    throw new Error(`append was over quota for ${result.retryAfterMs} ms`);
  }
  return result;
}

/** Appends `count` messages from alternating senders; client ids are m1, m2, … */
async function appendMany(
  stores: Stores,
  conversationId: string,
  count: number,
): Promise<ChatMessage[]> {
  const messages: ChatMessage[] = [];
  for (let index = 1; index <= count; index++) {
    const sender = index % 2 === 0 ? "ben" : "anna";
    const { message } = await appendOk(
      stores,
      draft(conversationId, sender, `m${index}`),
    );
    messages.push(message);
  }
  return messages;
}

const seqsOf = (messages: ChatMessage[]) => messages.map((m) => m.seq);

const bySocketId = (devices: DeviceAttention[]) =>
  [...devices].sort((a, b) => a.socketId.localeCompare(b.socketId));

describe.each(factories.map((factory) => [factory.name, factory] as const))(
  "%s stores",
  (_name, factory) => {
    describe("conversations", () => {
      it("create stores a new conversation", async () => {
        const stores = factory.create();
        const chat = conversation("c1", ["anna", "ben"], "Lunch");

        const result = await stores.conversations.create(chat);

        expect(result.created).toBe(true);
        expect(result.conversation).toEqual(chat);
        expect(await stores.conversations.get("c1")).toEqual(chat);
      });

      it("create again returns the first", async () => {
        const stores = factory.create();
        const first = conversation("c1", ["anna", "ben"], "First");
        await stores.conversations.create(first);

        const again = await stores.conversations.create(
          conversation("c1", ["anna", "ben", "cleo"], "Second"),
        );

        expect(again.created).toBe(false);
        expect(again.conversation).toEqual(first);
        expect(await stores.conversations.get("c1")).toEqual(first);
        expect(await stores.conversations.listIdsForUser("cleo")).toEqual([]);
      });

      it("get returns null for unknown id", async () => {
        const stores = factory.create();
        expect(await stores.conversations.get("missing")).toBeNull();
      });

      it("listIdsForUser returns newest first", async () => {
        const stores = factory.create();
        await stores.conversations.create(conversation("c1", ["anna", "ben"]));
        await stores.conversations.create(conversation("c2", ["anna", "cleo"]));
        await stores.conversations.create(
          conversation("c3", ["anna", "ben", "cleo"]),
        );
        // Creating an existing conversation again must not move it.
        await stores.conversations.create(conversation("c1", ["anna", "ben"]));

        expect(await stores.conversations.listIdsForUser("anna")).toEqual([
          "c3",
          "c2",
          "c1",
        ]);
        expect(await stores.conversations.listIdsForUser("ben")).toEqual([
          "c3",
          "c1",
        ]);
        expect(await stores.conversations.listIdsForUser("cleo")).toEqual([
          "c3",
          "c2",
        ]);
        expect(await stores.conversations.listIdsForUser("dora")).toEqual([]);
      });

      it("create keeps title null and member order", async () => {
        const stores = factory.create();
        const chat = conversation("g1", ["cleo", "anna", "ben"]);
        await stores.conversations.create(chat);

        const stored = await stores.conversations.get("g1");

        expect(stored?.title).toBeNull();
        expect(stored?.memberIds).toEqual(["anna", "ben", "cleo"]);
        expect(stored?.kind).toBe("group");
      });
    });

    describe("messages", () => {
      it("trims long conversations to the limit", async () => {
        const stores = factory.create({ historyLimit: 3 });
        for (let n = 1; n <= 200; n++) {
          await appendOk(stores, draft("c1", "anna", `m${n}`));
        }
        const newest = await stores.messages.range("c1", { limit: 10 });
        expect(newest.messages.map((m) => m.seq)).toEqual([198, 199, 200]);
        expect(newest.firstSeq).toBe(198);
        const after = await stores.messages.range("c1", {
          afterSeq: 100,
          limit: 10,
        });
        expect(after.messages.map((m) => m.seq)).toEqual([198, 199, 200]);
        const again = await appendOk(stores, draft("c1", "anna", "m150"));
        expect(again.duplicate).toBe(false);
        expect(again.message.seq).toBe(201);
        const kept = await appendOk(stores, draft("c1", "anna", "m200"));
        expect(kept.duplicate).toBe(true);
      });

      it("append marks the sender's read position", async () => {
        const stores = factory.create();
        await appendOk(stores, draft("c1", "anna", "a1"));
        await appendOk(stores, draft("c1", "ben", "b1"));
        await appendOk(stores, draft("c1", "anna", "a1"));

        expect(await stores.reads.getReadSeqs("anna", ["c1"])).toEqual([1]);
        expect(await stores.reads.getReadSeqs("ben", ["c1"])).toEqual([2]);
      });

      it("append stops a sender over the quota", async () => {
        const stores = factory.create({
          sendQuota: { limit: 2, windowMs: 300 },
        });
        await appendOk(stores, draft("c1", "anna", "a1"));
        await appendOk(stores, draft("c2", "anna", "a2"));

        const limited = await stores.messages.append(draft("c1", "anna", "a3"));
        expect(limited.retryAfterMs).toBeGreaterThan(0);
        expect(limited.retryAfterMs).toBeLessThanOrEqual(300);
        const [last] = await stores.messages.lastMessages(["c1"]);
        expect(last?.clientMessageId).toBe("a1");
        const other = await stores.messages.append(draft("c1", "ben", "b1"));
        expect(other.retryAfterMs).toBeUndefined();

        await new Promise((resolve) => setTimeout(resolve, 350));
        const later = await stores.messages.append(draft("c1", "anna", "a3"));
        expect(later.retryAfterMs).toBeUndefined();
      });

      it("append assigns seqs from 1", async () => {
        const stores = factory.create();
        const drafts = [
          draft("c1", "anna", "a1"),
          draft("c1", "ben", "b1"),
          draft("c1", "anna", "a2"),
        ];

        const results = [];
        for (const next of drafts) results.push(await appendOk(stores, next));

        expect(results.map((r) => r.duplicate)).toEqual([false, false, false]);
        expect(results.map((r) => r.message)).toEqual(
          drafts.map((next, index) => ({ ...next, seq: index + 1 })),
        );
      });

      it("append keeps seqs per conversation", async () => {
        const stores = factory.create();
        await appendMany(stores, "c1", 3);

        const { message } = await appendOk(stores, draft("c2", "anna", "m1"));

        expect(message.seq).toBe(1);
      });

      it("append keeps text intact", async () => {
        const stores = factory.create();
        const text = 'Grüße "quoted" \\ / \n\t {"seq":0} émoji 🎉 \u0000';

        const { message } = await appendOk(
          stores,
          draft("c1", "anna", "a1", text),
        );
        const { messages } = await stores.messages.range("c1", { limit: 10 });

        expect(message.text).toBe(text);
        expect(messages[0]?.text).toBe(text);
        expect(messages[0]?.seq).toBe(1);
      });

      it("duplicate returns original and stores nothing", async () => {
        const stores = factory.create();
        const original = await appendOk(stores, draft("c1", "anna", "a1"));

        const again = await appendOk(
          stores,
          draft("c1", "anna", "a1", "different text"),
        );

        expect(again.duplicate).toBe(true);
        expect(again.message).toEqual(original.message);
        const page = await stores.messages.range("c1", { limit: 10 });
        expect(page.messages).toEqual([original.message]);
        const next = await appendOk(stores, draft("c1", "anna", "a2"));
        expect(next.message.seq).toBe(2);
      });

      it("duplicate check is per sender and conversation", async () => {
        const stores = factory.create();
        await appendOk(stores, draft("c1", "anna", "x"));

        const otherSender = await appendOk(stores, draft("c1", "ben", "x"));
        const otherConversation = await appendOk(
          stores,
          draft("c2", "anna", "x"),
        );

        expect(otherSender.duplicate).toBe(false);
        expect(otherSender.message.seq).toBe(2);
        expect(otherConversation.duplicate).toBe(false);
        expect(otherConversation.message.seq).toBe(1);
      });

      it("append trims to historyLimit", async () => {
        const stores = factory.create({ historyLimit: 3 });
        const sent = await appendMany(stores, "c1", 5);

        const page = await stores.messages.range("c1", { limit: 10 });

        expect(seqsOf(sent)).toEqual([1, 2, 3, 4, 5]);
        expect(page.messages).toEqual(sent.slice(2));
        expect(page.firstSeq).toBe(3);
        expect(page.hasMore).toBe(false);
      });

      it("trim forgets trimmed client ids", async () => {
        const stores = factory.create({ historyLimit: 2 });
        await appendMany(stores, "c1", 3);

        // m1 (seq 1) was trimmed, so its client id may be used again.
        const reused = await appendOk(stores, draft("c1", "anna", "m1"));
        // m3 (seq 3) is still kept, so it is still a duplicate.
        const stillKept = await appendOk(stores, draft("c1", "anna", "m3"));

        expect(reused.duplicate).toBe(false);
        expect(reused.message.seq).toBe(4);
        expect(stillKept.duplicate).toBe(true);
        expect(stillKept.message.seq).toBe(3);
      });

      it("range returns newest without bounds", async () => {
        const stores = factory.create();
        const sent = await appendMany(stores, "c1", 10);

        const newest = await stores.messages.range("c1", { limit: 3 });
        const all = await stores.messages.range("c1", { limit: 20 });

        expect(newest.messages).toEqual(sent.slice(7));
        expect(newest.hasMore).toBe(true);
        expect(newest.firstSeq).toBe(1);
        expect(all.messages).toEqual(sent);
        expect(all.hasMore).toBe(false);
        expect(all.firstSeq).toBe(1);
      });

      it("range before beforeSeq", async () => {
        const stores = factory.create();
        await appendMany(stores, "c1", 10);

        const middle = await stores.messages.range("c1", {
          beforeSeq: 5,
          limit: 2,
        });
        const start = await stores.messages.range("c1", {
          beforeSeq: 3,
          limit: 5,
        });
        const none = await stores.messages.range("c1", {
          beforeSeq: 1,
          limit: 5,
        });
        const beyond = await stores.messages.range("c1", {
          beforeSeq: 50,
          limit: 2,
        });

        expect(seqsOf(middle.messages)).toEqual([3, 4]);
        expect(middle.hasMore).toBe(true);
        expect(seqsOf(start.messages)).toEqual([1, 2]);
        expect(start.hasMore).toBe(false);
        expect(none.messages).toEqual([]);
        expect(none.hasMore).toBe(false);
        expect(seqsOf(beyond.messages)).toEqual([9, 10]);
        expect(beyond.hasMore).toBe(true);
      });

      it("range after afterSeq", async () => {
        const stores = factory.create();
        await appendMany(stores, "c1", 10);

        const middle = await stores.messages.range("c1", {
          afterSeq: 7,
          limit: 2,
        });
        const end = await stores.messages.range("c1", {
          afterSeq: 8,
          limit: 2,
        });
        const none = await stores.messages.range("c1", {
          afterSeq: 10,
          limit: 5,
        });
        const beyond = await stores.messages.range("c1", {
          afterSeq: 50,
          limit: 5,
        });
        const fromStart = await stores.messages.range("c1", {
          afterSeq: 0,
          limit: 3,
        });

        expect(seqsOf(middle.messages)).toEqual([8, 9]);
        expect(middle.hasMore).toBe(true);
        expect(seqsOf(end.messages)).toEqual([9, 10]);
        expect(end.hasMore).toBe(false);
        expect(none.messages).toEqual([]);
        expect(none.hasMore).toBe(false);
        expect(beyond.messages).toEqual([]);
        expect(beyond.hasMore).toBe(false);
        expect(seqsOf(fromStart.messages)).toEqual([1, 2, 3]);
        expect(fromStart.hasMore).toBe(true);
      });

      it("range prefers afterSeq over beforeSeq", async () => {
        const stores = factory.create();
        await appendMany(stores, "c1", 10);

        const page = await stores.messages.range("c1", {
          afterSeq: 2,
          beforeSeq: 9,
          limit: 3,
        });

        expect(seqsOf(page.messages)).toEqual([3, 4, 5]);
        expect(page.hasMore).toBe(true);
      });

      it("range of empty conversation", async () => {
        const stores = factory.create();
        const empty = { messages: [], hasMore: false, firstSeq: 1 };

        expect(await stores.messages.range("none", { limit: 5 })).toEqual(
          empty,
        );
        expect(
          await stores.messages.range("none", { afterSeq: 0, limit: 5 }),
        ).toEqual(empty);
        expect(
          await stores.messages.range("none", { afterSeq: 3, limit: 5 }),
        ).toEqual(empty);
        expect(
          await stores.messages.range("none", { beforeSeq: 5, limit: 5 }),
        ).toEqual(empty);
      });

      it("range after trimming", async () => {
        const stores = factory.create({ historyLimit: 5 });
        await appendMany(stores, "c1", 8);

        const newest = await stores.messages.range("c1", { limit: 2 });
        const olderThanKept = await stores.messages.range("c1", {
          afterSeq: 1,
          limit: 2,
        });
        const beforeFirst = await stores.messages.range("c1", {
          beforeSeq: 4,
          limit: 5,
        });
        const beforeMiddle = await stores.messages.range("c1", {
          beforeSeq: 6,
          limit: 10,
        });

        expect(seqsOf(newest.messages)).toEqual([7, 8]);
        expect(newest.hasMore).toBe(true);
        expect(newest.firstSeq).toBe(4);
        expect(seqsOf(olderThanKept.messages)).toEqual([4, 5]);
        expect(olderThanKept.hasMore).toBe(true);
        expect(olderThanKept.firstSeq).toBe(4);
        expect(beforeFirst.messages).toEqual([]);
        expect(beforeFirst.hasMore).toBe(false);
        expect(seqsOf(beforeMiddle.messages)).toEqual([4, 5]);
        expect(beforeMiddle.hasMore).toBe(false);
      });

      it("lastMessages keeps order and nulls", async () => {
        const stores = factory.create();
        const first = await appendMany(stores, "c1", 2);
        const { message: second } = await appendOk(
          stores,
          draft("c2", "cleo", "x1"),
        );

        const last = await stores.messages.lastMessages([
          "c2",
          "missing",
          "c1",
        ]);

        expect(last).toEqual([second, null, first[1]]);
        expect(await stores.messages.lastMessages([])).toEqual([]);
      });
    });

    describe("reads", () => {
      it("markRead raises and never lowers", async () => {
        const stores = factory.create();

        expect(await stores.reads.markRead("anna", "c1", 5)).toBe(5);
        expect(await stores.reads.markRead("anna", "c1", 3)).toBe(5);
        expect(await stores.reads.markRead("anna", "c1", 5)).toBe(5);
        expect(await stores.reads.markRead("anna", "c1", 7)).toBe(7);
        expect(await stores.reads.getReadSeqs("anna", ["c1"])).toEqual([7]);
      });

      it("markRead of 0 stores nothing new", async () => {
        const stores = factory.create();

        expect(await stores.reads.markRead("anna", "c1", 0)).toBe(0);
        expect(await stores.reads.getReadSeqs("anna", ["c1"])).toEqual([0]);
      });

      it("getReadSeqs defaults to 0", async () => {
        const stores = factory.create();
        await stores.reads.markRead("anna", "c1", 4);
        await stores.reads.markRead("anna", "c3", 9);
        await stores.reads.markRead("ben", "c2", 2);

        expect(
          await stores.reads.getReadSeqs("anna", ["c3", "c2", "c1", "missing"]),
        ).toEqual([9, 0, 4, 0]);
        expect(await stores.reads.getReadSeqs("cleo", ["c1"])).toEqual([0]);
        expect(await stores.reads.getReadSeqs("anna", [])).toEqual([]);
      });

      it("concurrent markRead keeps the maximum", async () => {
        const stores = factory.create();
        const seqs = Array.from({ length: 30 }, (_, index) => (index * 7) % 31);

        await Promise.all(
          seqs.map((seq) => stores.reads.markRead("anna", "c1", seq)),
        );

        expect(await stores.reads.getReadSeqs("anna", ["c1"])).toEqual([
          Math.max(...seqs),
        ]);
      });
    });

    describe("attention", () => {
      it("addDevice reports first device", async () => {
        const stores = factory.create();
        const phone = device("anna", "s1");
        const laptop = device("anna", "s2", { appState: "background" });

        const first = await stores.attention.addDevice(phone);
        const second = await stores.attention.addDevice(laptop);

        expect(first.firstDevice).toBe(true);
        expect(second.firstDevice).toBe(false);
        expect(bySocketId(await stores.attention.listDevices("anna"))).toEqual([
          phone,
          laptop,
        ]);
        expect(await stores.attention.listDevices("ben")).toEqual([]);
      });

      it("updateDevice returns before and after", async () => {
        const stores = factory.create();
        const phone = device("anna", "s1");
        await stores.attention.addDevice(phone);

        const opened = await stores.attention.updateDevice(
          "anna",
          "s1",
          { openConversationId: "c1" },
          1_714_557_700_123,
        );

        const afterOpen = {
          ...phone,
          openConversationId: "c1",
          changedAt: 1_714_557_700_123,
        };
        expect(opened).toEqual({ before: phone, after: afterOpen });
        expect(await stores.attention.listDevices("anna")).toEqual([afterOpen]);

        const backgrounded = await stores.attention.updateDevice(
          "anna",
          "s1",
          { appState: "background" },
          1_714_557_800_000,
        );

        const afterBackground = {
          ...afterOpen,
          appState: "background",
          changedAt: 1_714_557_800_000,
        };
        expect(backgrounded).toEqual({
          before: afterOpen,
          after: afterBackground,
        });
      });

      it("updateDevice clears open conversation", async () => {
        const stores = factory.create();
        await stores.attention.addDevice(
          device("anna", "s1", { openConversationId: "c1" }),
        );

        const closed = await stores.attention.updateDevice(
          "anna",
          "s1",
          { openConversationId: null },
          1_714_557_900_000,
        );

        expect(closed?.before.openConversationId).toBe("c1");
        expect(closed?.after.openConversationId).toBeNull();
        expect(closed?.after.appState).toBe("foreground");
        const [stored] = await stores.attention.listDevices("anna");
        expect(stored?.openConversationId).toBeNull();
      });

      it("updateDevice of unknown socket is null", async () => {
        const stores = factory.create();
        await stores.attention.addDevice(device("anna", "s1"));

        expect(
          await stores.attention.updateDevice(
            "anna",
            "s9",
            { appState: "idle" },
            1,
          ),
        ).toBeNull();
        expect(
          await stores.attention.updateDevice(
            "ben",
            "s1",
            { appState: "idle" },
            1,
          ),
        ).toBeNull();
        const [stored] = await stores.attention.listDevices("anna");
        expect(stored?.appState).toBe("foreground");
        expect(await stores.attention.areOnline(["ben"])).toEqual([false]);
      });

      it("removeDevice reports last device", async () => {
        const stores = factory.create();
        const phone = device("anna", "s1");
        const laptop = device("anna", "s2");
        await stores.attention.addDevice(phone);
        await stores.attention.addDevice(laptop);

        const first = await stores.attention.removeDevice("anna", "s1");
        const last = await stores.attention.removeDevice("anna", "s2");

        expect(first).toEqual({ removed: phone, lastDevice: false });
        expect(last).toEqual({ removed: laptop, lastDevice: true });
        expect(await stores.attention.listDevices("anna")).toEqual([]);
        expect(await stores.attention.areOnline(["anna"])).toEqual([false]);
      });

      it("removeDevice of unknown socket", async () => {
        const stores = factory.create();
        await stores.attention.addDevice(device("anna", "s1"));

        const unknownSocket = await stores.attention.removeDevice("anna", "s9");
        const unknownUser = await stores.attention.removeDevice("ben", "s1");

        const nothing = { removed: null, lastDevice: false };
        expect(unknownSocket).toEqual(nothing);
        expect(unknownUser).toEqual(nothing);
        expect(await stores.attention.areOnline(["anna"])).toEqual([true]);
      });

      it("addDevice after last removal is first", async () => {
        const stores = factory.create();
        await stores.attention.addDevice(device("anna", "s1"));
        await stores.attention.removeDevice("anna", "s1");

        const again = await stores.attention.addDevice(device("anna", "s2"));

        expect(again.firstDevice).toBe(true);
      });

      it("areOnline keeps order", async () => {
        const stores = factory.create();
        await stores.attention.addDevice(device("anna", "s1"));
        await stores.attention.addDevice(device("ben", "s2"));

        expect(
          await stores.attention.areOnline(["ben", "cleo", "anna"]),
        ).toEqual([true, false, true]);
        expect(await stores.attention.areOnline([])).toEqual([]);
      });

      it("listDevicesOf returns every user's devices", async () => {
        const stores = factory.create();
        await stores.attention.addDevice(device("anna", "a1"));
        await stores.attention.addDevice(
          device("anna", "a2", { appState: "background" }),
        );
        await stores.attention.addDevice(device("ben", "b1"));

        const found = await stores.attention.listDevicesOf([
          "anna",
          "ben",
          "cleo",
        ]);

        expect([...found.keys()].sort()).toEqual(["anna", "ben"]);
        expect(
          found
            .get("anna")!
            .map((d) => d.socketId)
            .sort(),
        ).toEqual(["a1", "a2"]);
        expect(found.get("ben")!.map((d) => d.socketId)).toEqual(["b1"]);
        expect(await stores.attention.listDevicesOf([])).toEqual(new Map());
      });

      it("findViewers returns foreground open devices", async () => {
        const stores = factory.create();
        const annaPhone = device("anna", "a1", { openConversationId: "c1" });
        const annaLaptop = device("anna", "a2", { openConversationId: "c1" });
        const annaTablet = device("anna", "a3", { openConversationId: "c2" });
        const benPhone = device("ben", "b1");
        const cleoPhone = device("cleo", "c1", {
          appState: "background",
          openConversationId: "c1",
        });
        const doraPhone = device("dora", "d1", {
          appState: "idle",
          openConversationId: "c1",
        });
        const eveLaptop = device("eve", "e1", { openConversationId: "c1" });
        for (const entry of [
          annaPhone,
          annaLaptop,
          annaTablet,
          benPhone,
          cleoPhone,
          doraPhone,
          eveLaptop,
        ]) {
          await stores.attention.addDevice(entry);
        }
        const benOpened = await stores.attention.updateDevice(
          "ben",
          "b1",
          { openConversationId: "c1" },
          1_714_557_700_000,
        );

        const viewers = await stores.attention.findViewers("c1", [
          "anna",
          "ben",
          "cleo",
          "dora",
          "frank",
        ]);

        expect([...viewers.keys()].sort()).toEqual(["anna", "ben"]);
        expect(bySocketId(viewers.get("anna") ?? [])).toEqual([
          annaPhone,
          annaLaptop,
        ]);
        expect(viewers.get("ben")).toEqual([benOpened?.after]);
        expect(await stores.attention.findViewers("c1", [])).toEqual(new Map());
        expect(await stores.attention.findViewers("c9", ["anna"])).toEqual(
          new Map(),
        );
      });
    });

    describe("idempotency", () => {
      it("claims a key once within its TTL", async () => {
        const stores = factory.create();
        const now = Date.now();
        expect(await stores.idempotency.claim("a1", 200, now)).toBe(true);
        expect(await stores.idempotency.claim("a1", 200, now + 10)).toBe(false);
        expect(await stores.idempotency.claim("a2", 200, now + 10)).toBe(true);
      });

      it("frees a key after its TTL", async () => {
        const stores = factory.create();
        expect(await stores.idempotency.claim("a1", 50, Date.now())).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 80));
        expect(await stores.idempotency.claim("a1", 50, Date.now())).toBe(true);
      });

      it("gives one of many concurrent claims", async () => {
        const stores = factory.create();
        const now = Date.now();
        const claims = await Promise.all(
          Array.from({ length: 20 }, () =>
            stores.idempotency.claim("same", 1000, now),
          ),
        );
        expect(claims.filter(Boolean)).toHaveLength(1);
      });
    });

    describe("concurrency", () => {
      it("50 concurrent appends get seqs 1..50", async () => {
        const stores = factory.create();
        const expected = Array.from({ length: 50 }, (_, index) => index + 1);

        const results = await Promise.all(
          expected.map((n) => appendOk(stores, draft("c1", "anna", `m${n}`))),
        );

        const seqs = results.map((r) => r.message.seq).sort((a, b) => a - b);
        expect(seqs).toEqual(expected);
        expect(results.every((r) => !r.duplicate)).toBe(true);
        const page = await stores.messages.range("c1", { limit: 100 });
        expect(seqsOf(page.messages)).toEqual(expected);
      });

      it("20 concurrent resends store one message", async () => {
        const stores = factory.create();

        const results = await Promise.all(
          Array.from({ length: 20 }, () =>
            appendOk(stores, draft("c1", "anna", "same")),
          ),
        );

        const stored = results.filter((r) => !r.duplicate);
        expect(stored).toHaveLength(1);
        const ids = new Set(results.map((r) => r.message.id));
        expect(ids).toEqual(new Set([stored[0]?.message.id]));
        expect(results.every((r) => r.message.seq === 1)).toBe(true);
        const page = await stores.messages.range("c1", { limit: 100 });
        expect(page.messages).toHaveLength(1);
      });

      it("concurrent devices have one first and one last", async () => {
        const stores = factory.create();
        const socketIds = Array.from({ length: 10 }, (_, index) => `s${index}`);

        const added = await Promise.all(
          socketIds.map((id) => stores.attention.addDevice(device("anna", id))),
        );
        const removed = await Promise.all(
          socketIds.map((id) => stores.attention.removeDevice("anna", id)),
        );

        expect(added.filter((r) => r.firstDevice)).toHaveLength(1);
        expect(removed.filter((r) => r.lastDevice)).toHaveLength(1);
        expect(removed.every((r) => r.removed !== null)).toBe(true);
      });

      it("remove during updates succeeds", async () => {
        const stores = factory.create();
        await stores.attention.addDevice(device("anna", "s1"));

        // On one Redis connection the updates run between the read and the
        // script of removeDevice, so the Redis store has to retry.
        const [removal] = await Promise.all([
          stores.attention.removeDevice("anna", "s1"),
          ...Array.from({ length: 5 }, (_, index) =>
            stores.attention.updateDevice(
              "anna",
              "s1",
              { openConversationId: `c${index}` },
              1_714_557_700_000 + index,
            ),
          ),
        ]);

        expect(removal.removed?.socketId).toBe("s1");
        expect(removal.lastDevice).toBe(true);
        expect(await stores.attention.listDevices("anna")).toEqual([]);
        expect(await stores.attention.areOnline(["anna"])).toEqual([false]);
      });

      it("concurrent conversation creates one", async () => {
        const stores = factory.create();

        const results = await Promise.all(
          Array.from({ length: 10 }, (_, index) =>
            stores.conversations.create(
              conversation("c1", ["anna", "ben"], `title ${index}`),
            ),
          ),
        );

        const created = results.filter((r) => r.created);
        expect(created).toHaveLength(1);
        for (const result of results) {
          expect(result.conversation).toEqual(created[0]?.conversation);
        }
        expect(await stores.conversations.listIdsForUser("anna")).toEqual([
          "c1",
        ]);
      });
    });
  },
);

describe("redis stores", () => {
  function createStores(prefix = randomPrefix(), historyLimit = 100) {
    usedPrefixes.push(prefix);
    return createRedisStores({ redis, prefix, historyLimit });
  }

  it("prefixes keep deployments apart", async () => {
    const first = createStores();
    const second = createStores();
    await first.conversations.create(conversation("c1", ["anna", "ben"]));
    await appendOk(first, draft("c1", "anna", "a1"));
    await first.reads.markRead("anna", "c1", 1);
    await first.attention.addDevice(
      device("anna", "s1", { openConversationId: "c1" }),
    );

    expect(await second.conversations.get("c1")).toBeNull();
    expect(await second.conversations.listIdsForUser("anna")).toEqual([]);
    expect(await second.messages.lastMessages(["c1"])).toEqual([null]);
    expect(await second.messages.range("c1", { limit: 10 })).toEqual({
      messages: [],
      hasMore: false,
      firstSeq: 1,
    });
    expect(await second.reads.getReadSeqs("anna", ["c1"])).toEqual([0]);
    expect(await second.attention.areOnline(["anna"])).toEqual([false]);
    expect(await second.attention.findViewers("c1", ["anna"])).toEqual(
      new Map(),
    );
    const duplicate = await appendOk(second, draft("c1", "anna", "a1"));
    expect(duplicate.duplicate).toBe(false);
    const created = await second.conversations.create(
      conversation("c1", ["anna", "ben"]),
    );
    expect(created.created).toBe(true);
  });

  it("scripts run again after SCRIPT FLUSH", async () => {
    const stores = createStores();
    await appendOk(stores, draft("c1", "anna", "a1"));

    // Redis drops every cached script, as a restart does.
    await redis.script("FLUSH");
    const second = await appendOk(stores, draft("c1", "anna", "a2"));

    expect(second.message.seq).toBe(2);
    expect(await stores.reads.getReadSeqs("anna", ["c1"])).toEqual([2]);
  });

  it("keys stay under the prefix", async () => {
    const prefix = randomPrefix();
    const stores = createStores(prefix);
    const keys = redisKeys(prefix);
    await stores.conversations.create(conversation("c1", ["anna", "ben"]));
    await appendOk(stores, draft("c1", "anna", "a1"));
    await stores.reads.markRead("anna", "c1", 1);
    await stores.attention.addDevice(device("anna", "s1"));

    expect(await keysWithPrefix(redis, prefix)).toEqual(
      [
        keys.conversation("c1"),
        keys.conversationCounter(),
        keys.userConversations("anna"),
        keys.userConversations("ben"),
        keys.messages("c1"),
        keys.lastSeq("c1"),
        keys.clientMessageIds("c1"),
        keys.readSeqs("anna"),
        keys.devices("anna"),
        keys.nodeSockets("node-a"),
      ].sort(),
    );
  });

  it("node set tracks sockets", async () => {
    const prefix = randomPrefix();
    const stores = createStores(prefix);
    const nodeKey = redisKeys(prefix).nodeSockets("node-a");
    await stores.attention.addDevice(device("anna", "s1"));
    await stores.attention.addDevice(device("ben", "s2"));

    expect((await redis.smembers(nodeKey)).sort()).toEqual(
      [nodeSocketMember("anna", "s1"), nodeSocketMember("ben", "s2")].sort(),
    );

    await stores.attention.removeDevice("anna", "s1");
    expect(await redis.smembers(nodeKey)).toEqual([
      nodeSocketMember("ben", "s2"),
    ]);
  });

  it("trim removes trimmed client ids", async () => {
    const prefix = randomPrefix();
    const stores = createStores(prefix, 3);
    await appendMany(stores, "c1", 10);

    const clientIds = await redis.hkeys(
      redisKeys(prefix).clientMessageIds("c1"),
    );

    expect(clientIds.sort()).toEqual(
      ["anna\u0000m9", "ben\u0000m10", "ben\u0000m8"].sort(),
    );
  });

  it("ping resolves", async () => {
    await expect(createStores().ping()).resolves.toBeUndefined();
  });

  it("ping rejects when Redis does not answer", async () => {
    // A TCP server on this machine that accepts connections and never replies.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) =>
      silent.listen(0, "127.0.0.1", resolve),
    );
    const { port } = silent.address() as AddressInfo;
    const unanswered = new Redis({
      host: "127.0.0.1",
      port,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
    unanswered.on("error", () => {});
    try {
      const stores = createRedisStores({
        redis: unanswered,
        prefix: randomPrefix(),
        historyLimit: 10,
        pingTimeoutMs: 200,
      });
      await expect(stores.ping()).rejects.toThrow(/did not respond to PING/);
    } finally {
      unanswered.disconnect();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("close leaves the connection open", async () => {
    const stores = createStores();

    await stores.close();

    expect(await redis.ping()).toBe("PONG");
  });

  it("rejects invalid options", () => {
    expect(() =>
      createRedisStores({ redis, prefix: "", historyLimit: 10 }),
    ).toThrow(/prefix/);
    expect(() =>
      createRedisStores({ redis, prefix: randomPrefix(), historyLimit: 0 }),
    ).toThrow(/historyLimit/);
  });
});
