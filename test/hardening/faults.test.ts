import { io as connectClient } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { startBalancer } from "../../scripts/balancer.js";
import type { ChatMessage } from "../../server/src/protocol/index.js";
import { collect, request, requestOk } from "../support/client.js";
import {
  REDIS_TEST_URL,
  randomDeployment,
  startNode,
  type NodeProcess,
} from "../support/cluster.js";
import { startOneSignalStandIn } from "../support/onesignal-stand-in.js";
import { startPushServer } from "../support/push.js";
import {
  callApi,
  connectUser,
  devToken,
  onCleanup,
  waitUntil,
  type ClientSocket,
} from "../support/server.js";

describe("OneSignal faults", () => {
  it("keeps chatting while OneSignal hangs, then sends the push once", async () => {
    const server = await startPushServer({ ONESIGNAL_TIMEOUT_MS: "3000" });
    // The first push request hangs for 2 s before it is handled.
    server.oneSignal.script({ delayMs: 2000 });
    const anna = await server.connect("anna", { name: "Anna" });
    const ben = await server.connect("ben", { name: "Ben" });
    ben.on("message:new", (_message, ack) => ack?.());
    const { conversation: offline } = await requestOk(
      anna,
      "conversation:create",
      { memberIds: ["cleo"] },
    );
    const { conversation: live } = await requestOk(
      anna,
      "conversation:create",
      { memberIds: ["ben"] },
    );
    await requestOk(ben, "conversation:open", { conversationId: live.id });
    await requestOk(anna, "message:send", {
      conversationId: offline.id,
      clientMessageId: "p1",
      text: "push me",
    });
    await waitUntil(() => server.oneSignal.requests.length === 1);

    // While that request is still open, chat goes on at full speed.
    const received = collect(ben, "message:new");
    for (let i = 0; i < 20; i++) {
      await requestOk(anna, "message:send", {
        conversationId: live.id,
        clientMessageId: `l${i}`,
        text: `live ${i}`,
      });
    }
    await waitUntil(() => received.length === 20);
    expect(server.oneSignal.requests[0]!.status).toBe(0);

    await server.waitForDecision("cleo", "sent");
    expect(server.oneSignal.notifications).toHaveLength(1);
  });

  it("records failed and keeps serving while OneSignal is down", async () => {
    const server = await startPushServer({ ONESIGNAL_MAX_RETRIES: "1" });
    await server.oneSignal.close();
    const anna = await server.connect("anna", { name: "Anna" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await requestOk(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "d1",
      text: "down",
    });
    const failed = await server.waitForDecision("ben", "failed");
    expect(failed.detail).toMatch(/network error|fetch failed|ECONNREFUSED/);
    expect(
      (await requestOk(anna, "conversation:list", {})).conversations,
    ).toHaveLength(1);
  });
});

/** A client that resends unacked messages with the same clientMessageId and resyncs after reconnects. */
class ResilientClient {
  readonly socket: ClientSocket;
  readonly seen = new Map<string, ChatMessage>();
  /** Ids delivered live; a live event for an id already delivered live is a duplicate. */
  private readonly live = new Set<string>();
  duplicates = 0;

  constructor(
    url: string,
    token: string,
    private readonly conversationId: string,
  ) {
    this.socket = connectClient(url, {
      auth: { token },
      transports: ["websocket"],
      reconnectionDelay: 100,
      reconnectionDelayMax: 300,
    });
    onCleanup(() => {
      this.socket.disconnect();
    });
    this.socket.on("message:new", (message, ack) => {
      this.take(message);
      ack?.();
    });
    this.socket.on("connect", () => void this.resync());
  }

  private take(message: ChatMessage) {
    if (this.live.has(message.id)) this.duplicates++;
    this.live.add(message.id);
    this.seen.set(message.id, message);
  }

  private async resync() {
    let afterSeq = Math.max(
      0,
      ...[...this.seen.values()].map((message) => message.seq),
    );
    for (let page = 0; page < 100; page++) {
      const response = await request(this.socket, "conversation:history", {
        conversationId: this.conversationId,
        afterSeq,
      }).catch(() => null);
      if (!response?.ok) return;
      // History pages may overlap live events; they are merged by id, not counted as duplicates.
      for (const message of response.messages)
        this.seen.set(message.id, message);
      if (!response.hasMore) return;
      afterSeq = response.messages.at(-1)!.seq;
    }
  }

  /** Sends until acked, resending with the same clientMessageId after failures. */
  async send(clientMessageId: string, text: string) {
    for (let attempt = 0; attempt < 100; attempt++) {
      if (this.socket.connected) {
        const response = await request(
          this.socket,
          "message:send",
          { conversationId: this.conversationId, clientMessageId, text },
          1000,
        ).catch(() => null);
        if (response?.ok) return response;
        if (response?.error.code === "rate_limited") {
          await new Promise((resolve) =>
            setTimeout(resolve, response.error.retryAfterMs ?? 1000),
          );
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`message ${clientMessageId} was never acked`);
  }
}

describe("node crash mid-burst", () => {
  it(
    "loses and duplicates nothing, and pushes once",
    { timeout: 60_000 },
    async () => {
      const oneSignal = await startOneSignalStandIn();
      onCleanup(() => oneSignal.close());
      const env = {
        REDIS_URL: REDIS_TEST_URL,
        REDIS_PREFIX: randomDeployment(),
        ONESIGNAL_APP_ID: oneSignal.appId,
        ONESIGNAL_REST_API_KEY: oneSignal.apiKey,
        ONESIGNAL_API_URL: oneSignal.url,
        PUSH_DEBOUNCE_MS: "4000",
        PUSH_MAX_WAIT_MS: "15000",
        NODE_HEARTBEAT_MS: "250",
        NODE_LEASE_MS: "1000",
        RATE_SEND_PER_SOCKET: "1000",
        RATE_SEND_PER_USER: "1000",
      };
      const nodes: NodeProcess[] = await Promise.all([
        startNode(env),
        startNode(env),
      ]);
      const balancer = await startBalancer({
        port: 0,
        backends: nodes.map((node) => ({
          host: "127.0.0.1",
          port: node.port,
          name: node.nodeId,
        })),
        healthCheckIntervalMs: 200,
      });
      onCleanup(() => balancer.close());

      const first = nodes[0]!;
      const setup = await connectUser(first.url, "anna");
      const { conversation } = await requestOk(setup, "conversation:create", {
        memberIds: ["ben", "cleo"],
        title: "Crash",
      });
      setup.disconnect();

      const anna = new ResilientClient(
        balancer.url,
        await devToken(first.url, "anna", "Anna"),
        conversation.id,
      );
      const ben = new ResilientClient(
        balancer.url,
        await devToken(first.url, "ben", "Ben"),
        conversation.id,
      );
      await Promise.all(
        [anna, ben].map(
          (client) =>
            new Promise<void>((resolve) =>
              client.socket.once("connect", () => resolve()),
            ),
        ),
      );

      const total = 60;
      const sending = (async () => {
        for (let i = 0; i < total; i++) {
          const started = Date.now();
          await anna.send(`m${i}`, `message ${i}`);
          if (Date.now() - started > 300)
            console.log("SLOW", i, Date.now() - started);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      // Kill one node in the middle of the burst; clients on it reconnect to the other.
      await waitUntil(() => ben.seen.size >= 20, 10_000);
      const victim = nodes[1]!;
      victim.child.kill("SIGKILL");
      await victim.exited;
      await sending;

      await waitUntil(() => ben.seen.size === total, 15_000);
      const seqs = [...ben.seen.values()]
        .map((message) => message.seq)
        .sort((a, b) => a - b);
      expect(seqs).toEqual(
        Array.from({ length: total }, (_, index) => index + 1),
      );
      expect(ben.duplicates).toBe(0);
      const texts = new Set(
        [...ben.seen.values()].map((message) => message.clientMessageId),
      );
      expect(texts.size).toBe(total);

      // cleo was offline throughout: one push for the whole burst, from whichever node claims it.
      await waitUntil(
        () =>
          oneSignal.notifications.some((n) =>
            (
              n.body.include_aliases as { external_id: string[] }
            ).external_id.includes("cleo"),
          ),
        20_000,
      );
      const survivor = nodes[0]!;
      await waitUntil(
        async () =>
          (await callApi(survivor.url, "GET", "/api/users/cleo/push-decisions"))
            .body.decisions.length >= 1,
      );
      const cleoPushes = oneSignal.notifications.filter((n) =>
        (
          n.body.include_aliases as { external_id: string[] }
        ).external_id.includes("cleo"),
      );
      expect(cleoPushes).toHaveLength(1);
      expect((cleoPushes[0]!.body.data as { count: number }).count).toBe(total);
    },
  );
});
