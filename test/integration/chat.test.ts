import { describe, expect, it } from "vitest";
import type { ChatMessage } from "../../server/src/protocol/index.js";
import { collect, nextEvent, request, requestOk } from "../support/client.js";
import { startServer } from "../support/server.js";

async function directChat(server: Awaited<ReturnType<typeof startServer>>) {
  const anna = await server.connect("anna", { name: "Anna" });
  const ben = await server.connect("ben", { name: "Ben" });
  const { conversation } = await requestOk(anna, "conversation:create", {
    memberIds: ["ben"],
  });
  return { anna, ben, conversationId: conversation.id };
}

describe("chat", () => {
  it("delivers a message live to the other member", async () => {
    const server = await startServer();
    const { anna, ben, conversationId } = await directChat(server);

    const received = nextEvent(ben, "message:new");
    const ack = await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "c1",
      text: "Hey, you around?",
    });
    const message = await received;

    expect(message.text).toBe("Hey, you around?");
    expect(message.senderId).toBe("anna");
    expect(message.senderName).toBe("Anna");
    expect(message.seq).toBe(1);
    expect(message.id).toBe(ack.id);
    expect(ack.seq).toBe(1);
    expect(ack.duplicate).toBe(false);

    const reply = nextEvent(anna, "message:new");
    await requestOk(ben, "message:send", {
      conversationId,
      clientMessageId: "c1",
      text: "Yes!",
    });
    expect((await reply).seq).toBe(2);
  });

  it("gives a direct conversation the same id for both users", async () => {
    const server = await startServer();
    const { ben, conversationId } = await directChat(server);
    const again = await requestOk(ben, "conversation:create", {
      memberIds: ["anna"],
    });
    expect(again.conversation.id).toBe(conversationId);
    expect(again.created).toBe(false);
    expect(again.conversation.kind).toBe("direct");
  });

  it("announces a new conversation to the other members", async () => {
    const server = await startServer();
    const anna = await server.connect("anna");
    const ben = await server.connect("ben");
    const cleo = await server.connect("cleo");
    const announced = nextEvent(cleo, "conversation:new");
    const announcedToBen = nextEvent(ben, "conversation:new");
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben", "cleo"],
      title: "Trip",
    });
    expect(conversation.kind).toBe("group");
    const seen = await announced;
    expect(seen.id).toBe(conversation.id);
    expect(seen.title).toBe("Trip");
    expect(seen.memberIds).toEqual(["anna", "ben", "cleo"]);
    expect((await announcedToBen).id).toBe(conversation.id);
  });

  it("delivers a resent clientMessageId once", async () => {
    const server = await startServer();
    const { anna, ben, conversationId } = await directChat(server);
    const received = collect(ben, "message:new");

    const first = await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "same",
      text: "one",
    });
    const resent = await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "same",
      text: "one",
    });
    const later = nextEvent(
      ben,
      "message:new",
      (m) => m.clientMessageId === "after",
    );
    await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "after",
      text: "two",
    });
    await later;

    expect(resent.duplicate).toBe(true);
    expect(resent.id).toBe(first.id);
    expect(resent.seq).toBe(first.seq);
    expect(received.map((m) => m.clientMessageId)).toEqual(["same", "after"]);
    expect(received.map((m) => m.seq)).toEqual([1, 2]);
  });

  it("takes the sender from the token, not the payload", async () => {
    const server = await startServer();
    const { anna, ben, conversationId } = await directChat(server);
    const received = nextEvent(ben, "message:new");
    await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "spoof",
      text: "hi",
      senderId: "ben",
      senderName: "Ben",
    });
    const message = await received;
    expect(message.senderId).toBe("anna");
    expect(message.senderName).toBe("Anna");
  });

  it("forbids every conversation event to non-members", async () => {
    const server = await startServer();
    const { conversationId } = await directChat(server);
    const eve = await server.connect("eve");
    const attempts = [
      request(eve, "message:send", {
        conversationId,
        clientMessageId: "x",
        text: "let me in",
      }),
      request(eve, "message:read", { conversationId, seq: 1 }),
      request(eve, "conversation:open", { conversationId }),
      request(eve, "conversation:history", { conversationId }),
      request(eve, "typing", { conversationId, isTyping: true }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.ok).toBe(false);
      if (!response.ok) expect(response.error.code).toBe("forbidden");
    }
    const missing = await request(eve, "message:send", {
      conversationId: "dm_nope",
      clientMessageId: "x",
      text: "?",
    });
    expect(missing).toMatchObject({ ok: false, error: { code: "not_found" } });
  });

  it("resyncs exactly the missed messages after a dropped connection", async () => {
    const server = await startServer();
    const { anna, ben, conversationId } = await directChat(server);

    const delivered = nextEvent(ben, "message:new");
    await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "m1",
      text: "before",
    });
    const lastSeen = (await delivered).seq;

    ben.disconnect();
    for (let i = 2; i <= 6; i++) {
      await requestOk(anna, "message:send", {
        conversationId,
        clientMessageId: `m${i}`,
        text: `missed ${i}`,
      });
    }
    const benAgain = await server.connect("ben");
    const page = await requestOk(benAgain, "conversation:history", {
      conversationId,
      afterSeq: lastSeen,
    });

    expect(page.messages.map((m: ChatMessage) => m.seq)).toEqual([
      2, 3, 4, 5, 6,
    ]);
    expect(page.messages.map((m: ChatMessage) => m.text)).toEqual([
      "missed 2",
      "missed 3",
      "missed 4",
      "missed 5",
      "missed 6",
    ]);
    expect(page.hasMore).toBe(false);
  });

  it("pages history backwards and forwards", async () => {
    const server = await startServer();
    const { anna, conversationId } = await directChat(server);
    for (let i = 1; i <= 7; i++) {
      await requestOk(anna, "message:send", {
        conversationId,
        clientMessageId: `p${i}`,
        text: `m${i}`,
      });
    }
    const newest = await requestOk(anna, "conversation:history", {
      conversationId,
      limit: 3,
    });
    expect(newest.messages.map((m: ChatMessage) => m.seq)).toEqual([5, 6, 7]);
    expect(newest.hasMore).toBe(true);
    const older = await requestOk(anna, "conversation:history", {
      conversationId,
      beforeSeq: 5,
      limit: 3,
    });
    expect(older.messages.map((m: ChatMessage) => m.seq)).toEqual([2, 3, 4]);
    const oldest = await requestOk(anna, "conversation:history", {
      conversationId,
      beforeSeq: 2,
      limit: 3,
    });
    expect(oldest.messages.map((m: ChatMessage) => m.seq)).toEqual([1]);
    expect(oldest.hasMore).toBe(false);
    const forward = await requestOk(anna, "conversation:history", {
      conversationId,
      afterSeq: 2,
      limit: 2,
    });
    expect(forward.messages.map((m: ChatMessage) => m.seq)).toEqual([3, 4]);
    expect(forward.hasMore).toBe(true);
  });

  it("trims history to HISTORY_LIMIT and reports the first kept seq", async () => {
    const server = await startServer({ HISTORY_LIMIT: "3" });
    const { anna, conversationId } = await directChat(server);
    for (let i = 1; i <= 5; i++) {
      await requestOk(anna, "message:send", {
        conversationId,
        clientMessageId: `t${i}`,
        text: `m${i}`,
      });
    }
    const page = await requestOk(anna, "conversation:history", {
      conversationId,
      afterSeq: 0,
    });
    expect(page.messages.map((m: ChatMessage) => m.seq)).toEqual([3, 4, 5]);
    expect(page.firstSeq).toBe(3);
  });

  it("lists conversations with last message and unread count", async () => {
    const server = await startServer();
    const { anna, ben, conversationId } = await directChat(server);
    for (let i = 1; i <= 3; i++) {
      await requestOk(anna, "message:send", {
        conversationId,
        clientMessageId: `u${i}`,
        text: `hello ${i}`,
      });
    }
    const before = await requestOk(ben, "conversation:list", {});
    const listed = before.conversations.find((c) => c.id === conversationId)!;
    expect(listed.unreadCount).toBe(3);
    expect(listed.lastMessage?.text).toBe("hello 3");
    expect(listed.onlineMemberIds).toEqual(["anna"]);

    const receipt = nextEvent(anna, "message:read");
    const read = await requestOk(ben, "message:read", {
      conversationId,
      seq: 2,
    });
    expect(read.readSeq).toBe(2);
    expect(await receipt).toEqual({ conversationId, userId: "ben", seq: 2 });

    const after = await requestOk(ben, "conversation:list", {});
    expect(
      after.conversations.find((c) => c.id === conversationId)!.unreadCount,
    ).toBe(1);
    const annaView = await requestOk(anna, "conversation:list", {});
    expect(
      annaView.conversations.find((c) => c.id === conversationId)!.unreadCount,
    ).toBe(0);
  });

  it("caps the read position at the newest message and never lowers it", async () => {
    const server = await startServer();
    const { anna, ben, conversationId } = await directChat(server);
    await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "r1",
      text: "a",
    });
    await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "r2",
      text: "b",
    });
    expect(
      (await requestOk(ben, "message:read", { conversationId, seq: 99 }))
        .readSeq,
    ).toBe(2);
    expect(
      (await requestOk(ben, "message:read", { conversationId, seq: 1 }))
        .readSeq,
    ).toBe(2);
  });

  it("rejects text over MESSAGE_MAX_LENGTH and stores nothing", async () => {
    const server = await startServer({ MESSAGE_MAX_LENGTH: "10" });
    const { anna, conversationId } = await directChat(server);
    const response = await request(anna, "message:send", {
      conversationId,
      clientMessageId: "long",
      text: "x".repeat(11),
    });
    expect(response).toMatchObject({
      ok: false,
      error: { code: "payload_too_large" },
    });
    const page = await requestOk(anna, "conversation:history", {
      conversationId,
    });
    expect(page.messages).toEqual([]);
  });

  it("limits the members of a conversation", async () => {
    const server = await startServer({ CONVERSATION_MAX_MEMBERS: "3" });
    const anna = await server.connect("anna");
    const response = await request(anna, "conversation:create", {
      memberIds: ["b", "c", "d"],
    });
    expect(response).toMatchObject({
      ok: false,
      error: { code: "payload_too_large" },
    });
    const alone = await request(anna, "conversation:create", {
      memberIds: ["anna"],
    });
    expect(alone).toMatchObject({
      ok: false,
      error: { code: "invalid_payload" },
    });
  });

  it("relays typing and ends it after the TTL", async () => {
    const server = await startServer({ TYPING_TTL_MS: "200" });
    const { anna, ben, conversationId } = await directChat(server);
    const started = nextEvent(ben, "typing", (t) => t.isTyping);
    await requestOk(anna, "typing", { conversationId, isTyping: true });
    expect(await started).toEqual({
      conversationId,
      userId: "anna",
      isTyping: true,
      ttlMs: 200,
    });
    const ended = await nextEvent(ben, "typing", (t) => !t.isTyping, 2000);
    expect(ended.userId).toBe("anna");
  });

  it("ends typing when the typist disconnects", async () => {
    const server = await startServer({ TYPING_TTL_MS: "60000" });
    const { anna, ben, conversationId } = await directChat(server);
    await requestOk(anna, "typing", { conversationId, isTyping: true });
    const ended = nextEvent(ben, "typing", (t) => !t.isTyping, 2000);
    anna.disconnect();
    expect((await ended).userId).toBe("anna");
  });
});
