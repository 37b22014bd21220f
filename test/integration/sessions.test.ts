import { SignJWT } from "jose";
import { io as connectClient } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../server/src/config.js";
import { request, requestOk } from "../support/client.js";
import {
  onCleanup,
  startServer,
  TEST_JWT_SECRET,
  type ClientSocket,
} from "../support/server.js";

describe("sessions", () => {
  it("disconnects a socket when its token expires", async () => {
    const server = await startServer();
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("anna")
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const socket: ClientSocket = connectClient(server.url, {
      auth: { token },
      transports: ["websocket"],
      reconnection: false,
    });
    onCleanup(() => {
      socket.disconnect();
    });
    await new Promise<void>((resolve) =>
      socket.once("connect", () => resolve()),
    );
    const reason = await new Promise<string>((resolve) =>
      socket.once("disconnect", resolve),
    );
    expect(reason).toBe("io server disconnect");
  });

  it("answers unknown events with invalid_payload", async () => {
    const server = await startServer();
    const socket = await server.connect("anna");
    for (const event of [
      "does:not:exist",
      "__proto__",
      "constructor",
      "toString",
    ]) {
      const response = await request(socket, event as never, {});
      expect(response, event).toMatchObject({
        ok: false,
        error: { code: "invalid_payload" },
      });
    }
  });

  it("lets only the backend create conversations when configured", async () => {
    const server = await startServer({ CLIENT_CONVERSATION_CREATE: "false" });
    const anna = await server.connect("anna");
    const refused = await request(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    expect(refused).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(
      (
        await server.api("POST", "/api/conversations", {
          memberIds: ["anna", "ben"],
        })
      ).status,
    ).toBe(201);
    expect(
      (await requestOk(anna, "conversation:list", {})).conversations,
    ).toHaveLength(1);
  });

  it("pages the conversation list", async () => {
    const server = await startServer();
    const anna = await server.connect("anna");
    for (let i = 0; i < 5; i++)
      await requestOk(anna, "conversation:create", {
        memberIds: [`friend${i}`],
      });
    const first = await requestOk(anna, "conversation:list", { limit: 2 });
    expect(first.conversations.map((c) => c.memberIds)).toEqual([
      ["anna", "friend4"],
      ["anna", "friend3"],
    ]);
    expect(first.hasMore).toBe(true);
    const rest = await requestOk(anna, "conversation:list", {
      offset: first.nextOffset,
      limit: 10,
    });
    expect(rest.conversations).toHaveLength(3);
    expect(rest.hasMore).toBe(false);
  });

  it("listens on loopback only with the dev secrets", () => {
    expect(loadConfig({}).host).toBe("127.0.0.1");
    expect(loadConfig({ HOST: "0.0.0.0" }).host).toBe("0.0.0.0");
    const secrets = {
      AUTH_JWT_SECRET: "s".repeat(32),
      SERVER_API_KEY: "k".repeat(16),
    };
    expect(loadConfig(secrets).host).toBe("0.0.0.0");
  });
});

describe("HTTP request shapes", () => {
  it("asks for JSON and for smaller activity batches", async () => {
    const server = await startServer();
    const plain = await fetch(`${server.url}/api/conversations`, {
      method: "POST",
      headers: {
        authorization: "Bearer test-server-api-key",
        "content-type": "text/plain",
      },
      body: "memberIds=a,b",
    });
    expect(plain.status).toBe(400);
    expect(
      ((await plain.json()) as { error: { message: string } }).error.message,
    ).toMatch(/application\/json/);
    const item = { action: "follow", actor_id: "b", recipient_id: "a" };
    const big = await server.api(
      "POST",
      "/api/activities",
      Array.from({ length: 101 }, () => item),
    );
    expect(big.status).toBe(413);
    expect(big.body.error.message).toMatch(/at most 100/);
  });

  it("scopes activity ids to their recipient", async () => {
    const server = await startServer();
    const report = (recipient: string) =>
      server.api("POST", "/api/activities", {
        action: "invite",
        actor_id: "b",
        recipient_id: recipient,
        event_id: "e1",
        activity_id: "invite-42",
      });
    expect((await report("x")).body.result.status).toBe("accepted");
    expect((await report("y")).body.result.status).toBe("accepted");
    expect((await report("x")).body.result.status).toBe("duplicate");
  });
});
