import { describe, expect, it } from "vitest";
import { collect, nextEvent, request, requestOk } from "../support/client.js";
import { randomDeployment, startNode, startRedis } from "../support/cluster.js";
import { connectUser, waitUntil } from "../support/server.js";

describe("Redis outage", () => {
  it("answers unavailable while Redis is down and recovers without a restart", async () => {
    const redis = await startRedis();
    const env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: randomDeployment(),
      NODE_HEARTBEAT_MS: "250",
      NODE_LEASE_MS: "1000",
    };
    const [a, b] = await Promise.all([startNode(env), startNode(env)]);
    const anna = await connectUser(a.url, "anna", { name: "Anna" });
    const ben = await connectUser(b.url, "ben", { name: "Ben" });
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    await requestOk(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "before",
      text: "before",
    });

    await redis.kill();
    const ready = await fetch(`${a.url}/readyz`);
    expect(ready.status).toBe(503);
    const refused = await request(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "during",
      text: "during",
    });
    expect(refused).toMatchObject({
      ok: false,
      error: { code: "unavailable" },
    });
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();

    // Outlast NODE_LEASE_MS, so every lease in Redis has run out by the restart.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const presence = collect(ben, "presence");
    await redis.restart();
    await waitUntil(
      async () => (await fetch(`${a.url}/readyz`)).status === 200,
      10_000,
    );
    await waitUntil(
      async () => (await fetch(`${b.url}/readyz`)).status === 200,
      10_000,
    );

    // The client kept its message and resends it with the same clientMessageId.
    const delivered = nextEvent(
      ben,
      "message:new",
      (message) => message.clientMessageId === "during",
      10_000,
    );
    await waitUntil(async () => {
      const retry = await request(anna, "message:send", {
        conversationId: conversation.id,
        clientMessageId: "during",
        text: "during",
      });
      return retry.ok;
    }, 10_000);
    expect((await delivered).seq).toBe(2);
    const again = await requestOk(anna, "message:send", {
      conversationId: conversation.id,
      clientMessageId: "during",
      text: "during",
    });
    expect(again.duplicate).toBe(true);

    const history = await requestOk(ben, "conversation:history", {
      conversationId: conversation.id,
    });
    expect(history.messages.map((message) => message.text)).toEqual([
      "before",
      "during",
    ]);
    // Live nodes were not taken for dead because their leases ran out during the outage.
    expect(presence.filter((event) => !event.online)).toEqual([]);
    const annaPresence = await fetch(`${b.url}/api/users/anna/presence`, {
      headers: { authorization: "Bearer test-server-api-key" },
    });
    expect(((await annaPresence.json()) as { online: boolean }).online).toBe(
      true,
    );
  });
});
