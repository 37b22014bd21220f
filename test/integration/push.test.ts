import { describe, expect, it } from "vitest";
import { collect, requestOk } from "../support/client.js";
import { coalescedIdempotencyKey } from "../../server/src/push/idempotency.js";
import { startPushServer, type PushTestServer } from "../support/push.js";
import type { ClientSocket } from "../support/server.js";
import { waitUntil } from "../support/server.js";

/** Connects anna and a viewer-capable ben whose client acks message:new, and creates their chat. */
async function setUp(server: PushTestServer, benAppState?: string) {
  const anna = await server.connect("anna", { name: "Anna" });
  const ben = await server.connect("ben", {
    name: "Ben",
    appState: benAppState,
  });
  ackMessages(ben);
  const { conversation } = await requestOk(anna, "conversation:create", {
    memberIds: ["ben"],
  });
  return { anna, ben, conversationId: conversation.id };
}

/** Makes the client ack every message:new, as a well-behaved app does. */
function ackMessages(socket: ClientSocket) {
  socket.on("message:new", (_message, ack) => ack?.());
}

let sentCount = 0;

async function sendBurst(
  sender: ClientSocket,
  conversationId: string,
  texts: string[],
) {
  for (const text of texts) {
    await requestOk(sender, "message:send", {
      conversationId,
      clientMessageId: `burst-${++sentCount}`,
      text,
    });
  }
}

describe("push fallback", () => {
  it("sends one push for a burst to an offline recipient", async () => {
    const server = await startPushServer();
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await sendBurst(anna, conversation.id, [
      "one",
      "two",
      "three",
      "four",
      "Hey, you around?",
    ]);

    const sent = await server.waitForDecision("ben", "sent");
    await server.waitForIdleQueue();
    expect(sent.count).toBe(5);
    expect(server.oneSignal.notifications).toHaveLength(1);

    const body = server.oneSignal.notifications[0]!.body as Record<string, any>;
    expect(body.app_id).toBe(server.oneSignal.appId);
    expect(body.target_channel).toBe("push");
    expect(body.include_aliases).toEqual({ external_id: ["ben"] });
    expect(body).not.toHaveProperty("external_id");
    expect(body).not.toHaveProperty("included_segments");
    expect(body).not.toHaveProperty("filters");
    expect(body.headings).toEqual({ en: "Anna" });
    expect(body.contents).toEqual({
      en: "5 new messages from Anna: 'Hey, you around?'",
    });
    expect(body.data).toMatchObject({
      type: "message",
      conversation_id: conversation.id,
      sender_id: "anna",
      seq: 5,
      count: 5,
      click_action: "open_chat",
    });
    // One request may serve several recipients, so data names none of them.
    expect(body.data).not.toHaveProperty("recipient_id");
    expect(body.collapse_id).toBe(body.thread_id);
    expect(body.android_group).toBe(body.thread_id);
    expect(body.idempotency_key).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.idempotency_key).not.toContain("ben");
    expect(server.oneSignal.requests[0]!.authorization).toBe(
      `Key ${server.oneSignal.apiKey}`,
    );
    expect(sent.notificationId).toBe(server.oneSignal.notifications[0]!.id);
  });

  it("words a single message push", async () => {
    const server = await startPushServer();
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await sendBurst(anna, conversation.id, ["Hey, you around?"]);
    await server.waitForDecision("ben", "sent");
    const body = server.oneSignal.notifications[0]!.body as Record<string, any>;
    expect(body.headings).toEqual({ en: "New message" });
    expect(body.contents).toEqual({
      en: "New message from Anna: 'Hey, you around?'",
    });
  });

  it("sends nothing to a recipient who is viewing", async () => {
    const server = await startPushServer();
    const { anna, ben, conversationId } = await setUp(server);
    await requestOk(ben, "conversation:open", { conversationId });
    await sendBurst(anna, conversationId, ["hi", "there"]);

    // Seen messages are logged together, one entry with their count.
    const seen = await server.waitForDecision("ben", "suppressed_viewing");
    expect(seen.count).toBe(2);
    const reasons = (await server.decisions("ben")).map(
      (decision) => decision.reason,
    );
    expect(reasons).toEqual(["suppressed_viewing"]);
    expect(await server.app.pushStores.queue.size()).toBe(0);
    expect(server.oneSignal.requests).toHaveLength(0);
  });

  for (const situation of [
    "background",
    "idle",
    "another conversation",
    "half-dead socket",
  ] as const) {
    it(`sends one push when the recipient is in ${situation}`, async () => {
      const server = await startPushServer();
      const anna = await server.connect("anna", { name: "Anna" });
      // A half-dead client receives message:new but never acks it.
      const ben = await server.connect("ben");
      if (situation !== "half-dead socket") ackMessages(ben);
      const { conversation } = await requestOk(anna, "conversation:create", {
        memberIds: ["ben"],
      });
      const { conversation: other } = await requestOk(
        anna,
        "conversation:create",
        {
          memberIds: ["ben", "cleo"],
          title: "Other",
        },
      );
      const opened =
        situation === "another conversation" ? other.id : conversation.id;
      await requestOk(ben, "conversation:open", { conversationId: opened });
      if (situation === "background" || situation === "idle") {
        await requestOk(ben, "app:state", { state: situation });
      }
      const live = collect(ben, "message:new");

      await sendBurst(anna, conversation.id, ["are you there?"]);
      await server.waitForDecision("ben", "sent");
      await server.waitForIdleQueue();
      expect(live.map((message) => message.text)).toEqual(["are you there?"]);
      expect(server.oneSignal.notifications).toHaveLength(1);
      expect(
        (await server.decisions("ben")).map((decision) => decision.reason),
      ).toEqual(["sent"]);
    });
  }

  it("cancels the push when the recipient reads before it fires", async () => {
    const server = await startPushServer({
      PUSH_DEBOUNCE_MS: "1500",
      PUSH_MAX_WAIT_MS: "3000",
    });
    const { anna, ben, conversationId } = await setUp(server, "background");
    await sendBurst(anna, conversationId, ["one", "two"]);
    expect(await server.app.pushStores.queue.size()).toBe(1);

    await requestOk(ben, "message:read", { conversationId, seq: 1 });
    expect(await server.app.pushStores.queue.size()).toBe(1);
    await requestOk(ben, "message:read", { conversationId, seq: 2 });
    expect(await server.app.pushStores.queue.size()).toBe(0);
    expect(server.oneSignal.requests).toHaveLength(0);
  });

  it("cancels the push when the recipient opens the conversation", async () => {
    const server = await startPushServer({
      PUSH_DEBOUNCE_MS: "1500",
      PUSH_MAX_WAIT_MS: "3000",
    });
    const { anna, ben, conversationId } = await setUp(server);
    await sendBurst(anna, conversationId, ["one"]);
    expect(await server.app.pushStores.queue.size()).toBe(1);
    await requestOk(ben, "conversation:open", { conversationId });
    expect(await server.app.pushStores.queue.size()).toBe(0);
  });

  it("pushes unread messages when the viewer goes to the background", async () => {
    const server = await startPushServer();
    const { anna, ben, conversationId } = await setUp(server);
    await requestOk(ben, "conversation:open", { conversationId });
    await sendBurst(anna, conversationId, ["seen live but not read"]);
    await server.waitForDecision("ben", "suppressed_viewing");

    await requestOk(ben, "app:state", { state: "background" });
    const sent = await server.waitForDecision("ben", "sent");
    expect(sent.count).toBe(1);
    expect(server.oneSignal.notifications).toHaveLength(1);
  });

  it("pushes unread messages when the viewer disconnects", async () => {
    const server = await startPushServer();
    const { anna, ben, conversationId } = await setUp(server);
    await requestOk(ben, "conversation:open", { conversationId });
    await sendBurst(anna, conversationId, ["still there?"]);
    await server.waitForDecision("ben", "suppressed_viewing");
    ben.disconnect();
    await server.waitForDecision("ben", "sent");
    expect(server.oneSignal.notifications).toHaveLength(1);
  });

  it("does not push what the viewer read before leaving", async () => {
    const server = await startPushServer();
    const { anna, ben, conversationId } = await setUp(server);
    await requestOk(ben, "conversation:open", { conversationId });
    await sendBurst(anna, conversationId, ["read it"]);
    await server.waitForDecision("ben", "suppressed_viewing");
    await requestOk(ben, "message:read", { conversationId, seq: 1 });
    await requestOk(ben, "app:state", { state: "background" });
    expect(await server.app.pushStores.queue.size()).toBe(0);
  });

  it("fires by PUSH_MAX_WAIT_MS during a long burst", async () => {
    const server = await startPushServer({
      PUSH_DEBOUNCE_MS: "400",
      PUSH_MAX_WAIT_MS: "800",
    });
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    const started = Date.now();
    // Messages every 100 ms for 2 s never leave a 400 ms gap, so only the cap can fire a push.
    for (let i = 0; i < 20; i++) {
      await requestOk(anna, "message:send", {
        conversationId: conversation.id,
        clientMessageId: `w${i}`,
        text: `m${i}`,
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const duringBurst = server.oneSignal.notifications.length;
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(duringBurst).toBeGreaterThanOrEqual(1);
    await server.waitForIdleQueue();
  });
});

/** External ids a recorded request targets. */
function aliasesOf(body: Record<string, unknown> | null): string[] {
  return (
    (body?.include_aliases as { external_id?: string[] } | undefined)
      ?.external_id ?? []
  );
}

/** Creates a group of anna and `count` members who never connect, so all of them get pushes. */
async function offlineGroup(server: PushTestServer, count: number) {
  const anna = await server.connect("anna", { name: "Anna" });
  const memberIds = Array.from(
    { length: count },
    (_, index) => `member${String(index).padStart(4, "0")}`,
  );
  const { conversation } = await requestOk(anna, "conversation:create", {
    memberIds,
    title: "Team",
  });
  return { anna, memberIds, conversationId: conversation.id as string };
}

/** Waits until every user has one decision and returns them, in the order of `userIds`. */
async function waitForOneDecisionEach(
  server: PushTestServer,
  userIds: string[],
  timeoutMs = 10_000,
) {
  await waitUntil(async () => {
    for (const userId of userIds) {
      if ((await server.decisions(userId)).length === 0) return false;
    }
    return true;
  }, timeoutMs);
  return Promise.all(userIds.map((userId) => server.decisions(userId)));
}

describe("coalesced pushes", () => {
  it("sends a group burst as one request", async () => {
    const server = await startPushServer();
    const { anna, memberIds, conversationId } = await offlineGroup(server, 20);
    await sendBurst(anna, conversationId, ["one", "two", "three"]);

    const decisions = await waitForOneDecisionEach(server, memberIds);
    await server.waitForIdleQueue();
    expect(server.oneSignal.requests).toHaveLength(1);
    const [request] = server.oneSignal.requests;
    expect(request!.status).toBe(200);
    expect(aliasesOf(request!.body)).toEqual(memberIds);
    expect(server.oneSignal.notifications).toHaveLength(1);
    const notificationId = server.oneSignal.notifications[0]!.id;
    const lastMessageId = (request!.body!.data as Record<string, unknown>)
      .message_id as string;
    expect(request!.body!.idempotency_key).toBe(
      coalescedIdempotencyKey(memberIds, conversationId, lastMessageId),
    );
    for (const [index, entries] of decisions.entries()) {
      expect(entries, memberIds[index]).toHaveLength(1);
      expect(entries[0]).toMatchObject({
        reason: "sent",
        count: 3,
        topic: conversationId,
        lastItemId: lastMessageId,
        notificationId,
      });
    }
  });

  it("maps invalid_aliases to not_subscribed", async () => {
    const server = await startPushServer();
    const { anna, memberIds, conversationId } = await offlineGroup(server, 6);
    const unsubscribed = [memberIds[1]!, memberIds[4]!];
    for (const userId of unsubscribed)
      server.oneSignal.unsubscribed.add(userId);
    await sendBurst(anna, conversationId, ["anyone?"]);

    const decisions = await waitForOneDecisionEach(server, memberIds);
    expect(server.oneSignal.requests).toHaveLength(1);
    expect(aliasesOf(server.oneSignal.requests[0]!.body)).toEqual(memberIds);
    const notificationId = server.oneSignal.notifications[0]!.id;
    for (const [index, userId] of memberIds.entries()) {
      const [decision] = decisions[index]!;
      if (unsubscribed.includes(userId)) {
        expect(decision, userId).toMatchObject({ reason: "not_subscribed" });
        expect(decision!.detail, userId).toMatch(/invalid_aliases/);
        expect(decision!.notificationId, userId).toBeUndefined();
      } else {
        expect(decision, userId).toMatchObject({
          reason: "sent",
          notificationId,
        });
        expect(decision!.detail, userId).toBeUndefined();
      }
    }
  });

  it("records failed for every recipient of a rejected request", async () => {
    const server = await startPushServer();
    server.oneSignal.script({ status: 400, body: { errors: ["Bad request"] } });
    const { anna, memberIds, conversationId } = await offlineGroup(server, 4);
    await sendBurst(anna, conversationId, ["x"]);

    const decisions = await waitForOneDecisionEach(server, memberIds);
    expect(server.oneSignal.requests).toHaveLength(1);
    for (const [index, entries] of decisions.entries()) {
      expect(entries[0], memberIds[index]).toMatchObject({ reason: "failed" });
      expect(entries[0]!.detail).toMatch(/HTTP 400: .*Bad request/);
    }
  });

  it("keeps requests apart when the text differs", async () => {
    const server = await startPushServer();
    const { anna, memberIds, conversationId } = await offlineGroup(server, 3);
    const writer = await server.connect(memberIds[1]!, { name: "Max" });
    await sendBurst(writer, conversationId, ["from Max"]);
    writer.disconnect();
    await sendBurst(anna, conversationId, ["from Anna"]);

    // Max's own message is not pushed to him, so his push counts one
    // message and the others' two. Anna read Max's message by sending hers.
    const everyone = ["anna", ...memberIds];
    const [annaDecisions] = await waitForOneDecisionEach(server, everyone);
    await server.waitForIdleQueue();
    expect(annaDecisions!.map((entry) => entry.reason)).toEqual([
      "suppressed_read",
    ]);
    const targets = server.oneSignal.requests
      .map((request) => aliasesOf(request.body))
      .sort((a, b) => a.length - b.length || a[0]!.localeCompare(b[0]!));
    expect(targets).toEqual([[memberIds[1]], [memberIds[0], memberIds[2]]]);
  });

  it("sends 2,001 recipients in requests of at most 2,000", async () => {
    const server = await startPushServer({ CONVERSATION_MAX_MEMBERS: "2100" });
    const { anna, memberIds, conversationId } = await offlineGroup(
      server,
      2001,
    );
    await sendBurst(anna, conversationId, ["everyone"]);

    const decisions = await waitForOneDecisionEach(server, memberIds, 30_000);
    const sizes = server.oneSignal.requests.map(
      (request) => aliasesOf(request.body).length,
    );
    // Usually [2000, 1]; a pause of COALESCE_IDLE_MS while the batches
    // come due splits the group earlier.
    expect(sizes.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2000);
    expect(server.oneSignal.requests.every((r) => r.status === 200)).toBe(true);
    const targeted = server.oneSignal.requests.flatMap((request) =>
      aliasesOf(request.body),
    );
    expect(targeted).toHaveLength(2001);
    expect(new Set(targeted).size).toBe(2001);
    for (const entries of decisions) {
      expect(entries).toHaveLength(1);
      expect(entries[0]!.reason).toBe("sent");
    }
  }, 60_000);
});

describe("push preferences", () => {
  it("suppresses muted conversations but still delivers live", async () => {
    const server = await startPushServer();
    const { anna, ben, conversationId } = await setUp(server, "background");
    await requestOk(ben, "preferences:update", { mute: [{ conversationId }] });
    const live = collect(ben, "message:new");
    await sendBurst(anna, conversationId, ["shh"]);
    const decision = await server.waitForDecision("ben", "muted");
    expect(decision.count).toBe(1);
    expect(live).toHaveLength(1);
    expect(server.oneSignal.requests).toHaveLength(0);
  });

  it("ends a timed mute on its own", async () => {
    const server = await startPushServer();
    const { anna, ben, conversationId } = await setUp(server, "background");
    const until = new Date(Date.now() + 300).toISOString();
    const { preferences } = await requestOk(ben, "preferences:update", {
      mute: [{ conversationId, until }],
    });
    expect(preferences.mutedConversations[conversationId]).toBe(until);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await sendBurst(anna, conversationId, ["mute is over"]);
    await server.waitForDecision("ben", "sent");
  });

  it("suppresses every push when push is off", async () => {
    const server = await startPushServer();
    const { anna, conversationId } = await setUp(server, "background");
    const patched = await server.api("PATCH", "/api/users/ben/preferences", {
      pushEnabled: false,
    });
    expect(patched.status).toBe(200);
    expect(patched.body.preferences.pushEnabled).toBe(false);
    await sendBurst(anna, conversationId, ["nobody hears"]);
    await server.waitForDecision("ben", "push_disabled");
    expect(server.oneSignal.requests).toHaveLength(0);
  });

  it("suppresses pushes during quiet hours", async () => {
    const server = await startPushServer();
    const { anna, ben, conversationId } = await setUp(server, "background");
    const now = new Date();
    const hh = (date: Date) =>
      `${String(date.getUTCHours()).padStart(2, "0")}:${String(date.getUTCMinutes()).padStart(2, "0")}`;
    const start = hh(new Date(now.getTime() - 60 * 60_000));
    const end = hh(new Date(now.getTime() + 60 * 60_000));
    await requestOk(ben, "preferences:update", {
      quietHours: { start, end, timeZone: "UTC" },
    });
    await sendBurst(anna, conversationId, ["late night"]);
    await server.waitForDecision("ben", "quiet_period");
    expect(server.oneSignal.requests).toHaveLength(0);
  });

  it("forbids muting a conversation of others", async () => {
    const server = await startPushServer();
    const { conversationId } = await setUp(server);
    const eve = await server.connect("eve");
    const { request } = await import("../support/client.js");
    const response = await request(eve, "preferences:update", {
      mute: [{ conversationId }],
    });
    expect(response).toMatchObject({ ok: false, error: { code: "forbidden" } });
  });
});

describe("OneSignal delivery", () => {
  it("retries 5xx, 429 and dropped connections with one idempotency_key", async () => {
    const server = await startPushServer();
    server.oneSignal.script(
      { status: 500, body: { errors: ["Internal Server Error"] } },
      {
        status: 429,
        body: { errors: ["API rate limit exceeded."] },
        headers: { "Retry-After": "0" },
      },
      { destroy: true },
    );
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await sendBurst(anna, conversation.id, ["retry me"]);

    await server.waitForDecision("ben", "sent");
    const keys = server.oneSignal.requests.map(
      (request) => request.body?.idempotency_key,
    );
    expect(server.oneSignal.requests.map((request) => request.status)).toEqual([
      500, 429, -1, 200,
    ]);
    expect(new Set(keys).size).toBe(1);
    expect(server.oneSignal.notifications).toHaveLength(1);
  });

  it("never duplicates when a slow answer times out", async () => {
    const server = await startPushServer({ ONESIGNAL_TIMEOUT_MS: "200" });
    // The first request is handled after the client gave up, so OneSignal created it; the retry is replayed.
    server.oneSignal.script({ delayMs: 400 });
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await sendBurst(anna, conversation.id, ["slow"]);

    await server.waitForDecision("ben", "sent");
    await waitUntil(
      () =>
        server.oneSignal.requests.filter((request) => request.status !== 0)
          .length >= 2,
    );
    expect(server.oneSignal.notifications).toHaveLength(1);
    const keys = new Set(
      server.oneSignal.requests.map((request) => request.body?.idempotency_key),
    );
    expect(keys.size).toBe(1);
  });

  it("gives up after ONESIGNAL_MAX_RETRIES and records failed", async () => {
    const server = await startPushServer({ ONESIGNAL_MAX_RETRIES: "2" });
    server.oneSignal.script({ status: 503 }, { status: 503 }, { status: 503 });
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await sendBurst(anna, conversation.id, ["down"]);
    const failed = await server.waitForDecision("ben", "failed");
    expect(failed.detail).toMatch(/503/);
    expect(server.oneSignal.requests).toHaveLength(3);
  });

  it("does not retry a 400 or a 403", async () => {
    const server = await startPushServer();
    server.oneSignal.script(
      { status: 400, body: { errors: ["Bad request"] } },
      { status: 403, body: { errors: ["Access denied"] } },
    );
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation: first } = await requestOk(
      anna,
      "conversation:create",
      { memberIds: ["ben"] },
    );
    const { conversation: second } = await requestOk(
      anna,
      "conversation:create",
      { memberIds: ["cleo"] },
    );
    await sendBurst(anna, first.id, ["x"]);
    const rejected = await server.waitForDecision("ben", "failed");
    await sendBurst(anna, second.id, ["y"]);
    const forbidden = await server.waitForDecision("cleo", "failed");
    expect(rejected.detail).toMatch(/HTTP 400: .*Bad request/);
    expect(forbidden.detail).toMatch(/HTTP 403/);
    expect(server.oneSignal.requests).toHaveLength(2);
  });

  it("records not_subscribed for the empty-id answer without retrying", async () => {
    const server = await startPushServer();
    server.oneSignal.unsubscribed.add("ben");
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await sendBurst(anna, conversation.id, ["anyone?"]);
    const decision = await server.waitForDecision("ben", "not_subscribed");
    expect(decision.detail).toMatch(/not subscribed/);
    expect(server.oneSignal.requests).toHaveLength(1);
  });

  it("caps pushes per user per minute and defers the rest", async () => {
    const server = await startPushServer({ PUSH_MAX_PER_USER_PER_MINUTE: "2" });
    const ben = await server.connect("ben");
    ben.disconnect();
    for (const sender of ["anna", "cleo", "dave"]) {
      const socket = await server.connect(sender);
      const { conversation } = await requestOk(socket, "conversation:create", {
        memberIds: ["ben"],
      });
      await sendBurst(socket, conversation.id, [`from ${sender}`]);
    }
    const capped = await server.waitForDecision("ben", "budget_exceeded");
    expect(capped.detail).toMatch(/deferred until/);
    await waitUntil(
      async () =>
        (await server.decisions("ben")).filter((d) => d.reason === "sent")
          .length === 2,
    );
    expect(server.oneSignal.notifications).toHaveLength(2);
    expect(await server.app.pushStores.queue.size()).toBe(1);
  });

  it("leaves message text out when PUSH_INCLUDE_CONTENT is false", async () => {
    const server = await startPushServer({ PUSH_INCLUDE_CONTENT: "false" });
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await sendBurst(anna, conversation.id, ["my secret PIN is 1234"]);
    await server.waitForDecision("ben", "sent");
    const body = server.oneSignal.notifications[0]!.body;
    expect(JSON.stringify(body)).not.toContain("1234");
    expect((body.contents as { en: string }).en).toBe("New message from Anna");
  });

  it("names the group and cuts long text cleanly", async () => {
    const server = await startPushServer();
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben", "cleo"],
      title: "Hawaii trip",
    });
    await sendBurst(anna, conversation.id, ["word ".repeat(200)]);
    await server.waitForDecision("ben", "sent");
    const body = server.oneSignal.notifications.find(
      (n) => (n.body.include_aliases as any).external_id[0] === "ben",
    )!.body as Record<string, any>;
    expect(body.headings.en).toBe("Hawaii trip");
    expect(body.contents.en).toMatch(
      /^New message from Anna in Hawaii trip: 'word( word)*…'$/,
    );
    expect(body.contents.en.length).toBeLessThan(160);
  });
});

describe("push observability", () => {
  it("serves the decision log and metrics to the app backend", async () => {
    const server = await startPushServer();
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await sendBurst(anna, conversation.id, ["log me"]);
    await server.waitForDecision("ben", "sent");

    const log = await server.api(
      "GET",
      "/api/users/ben/push-decisions?limit=10",
    );
    expect(log.status).toBe(200);
    expect(log.body.decisions[0]).toMatchObject({
      reason: "sent",
      topic: conversation.id,
      count: 1,
    });

    const metrics = await fetch(`${server.url}/metrics`, {
      headers: { authorization: "Bearer test-server-api-key" },
    });
    const text = await metrics.text();
    expect(text).toMatch(
      /chat_push_decisions_total\{kind="message",reason="sent"\} 1/,
    );
    expect(text).toMatch(/chat_onesignal_request_duration_seconds_count 1/);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
  });

  it("fills the dry-run outbox when OneSignal is not configured", async () => {
    const { startServer } = await import("../support/server.js");
    const server = await startServer({
      PUSH_DEBOUNCE_MS: "100",
      PUSH_MAX_WAIT_MS: "1000",
    });
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await requestOk(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "d1",
      text: "dry",
    });
    await waitUntil(async () => {
      const response = await fetch(
        `${server.url}/api/dev/push-outbox?userId=ben`,
      );
      return (
        ((await response.json()) as { pushes: unknown[] }).pushes.length === 1
      );
    });
    const response = await fetch(
      `${server.url}/api/dev/push-outbox?userId=ben`,
    );
    const { pushes } = (await response.json()) as {
      pushes: { request: Record<string, any> }[];
    };
    expect(pushes[0]!.request.contents.en).toBe("New message from Anna: 'dry'");
    expect(pushes[0]!.request.include_aliases.external_id).toEqual(["ben"]);
  });
});

describe("hostile text in pushes", () => {
  it("sends a shortened push for text that would overflow it", async () => {
    const server = await startPushServer();
    const anna = await server.connect("anna", {
      name: "\u0001".repeat(150) + "Anna",
    });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben", "cleo"],
      title: "Trip" + "\u0001".repeat(196),
    });
    await sendBurst(anna, conversation.id, [
      "a" + "\u0301".repeat(3999),
      "👩‍👩‍👧‍👦".repeat(363),
    ]);
    const decision = await server.waitForDecision("ben", "sent");
    expect(decision.count).toBe(2);
    const body = server.oneSignal.notifications[0]!.body as Record<string, any>;
    expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThanOrEqual(3500);
    expect(body.contents.en).not.toMatch(/[\u0000-\u001f]/);
  });
});
