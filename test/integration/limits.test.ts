import { io as connectClient } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { collect, nextEvent, request, requestOk } from "../support/client.js";
import {
  onCleanup,
  startServer,
  waitUntil,
  type ClientSocket,
} from "../support/server.js";

async function chat(server: Awaited<ReturnType<typeof startServer>>) {
  const anna = await server.connect("anna", { name: "Anna" });
  const { conversation } = await requestOk(anna, "conversation:create", {
    memberIds: ["ben"],
  });
  return { anna, conversationId: conversation.id };
}

describe("rate limits", () => {
  it("limits sends per socket with a retry hint", async () => {
    const server = await startServer({ RATE_SEND_PER_SOCKET: "3" });
    const { anna, conversationId } = await chat(server);
    for (let i = 0; i < 3; i++) {
      await requestOk(anna, "message:send", {
        conversationId,
        clientMessageId: `s${i}`,
        text: "hi",
      });
    }
    const limited = await request(anna, "message:send", {
      conversationId,
      clientMessageId: "s3",
      text: "hi",
    });
    expect(limited).toMatchObject({
      ok: false,
      error: { code: "rate_limited" },
    });
    if (!limited.ok) {
      expect(limited.error.retryAfterMs).toBeGreaterThan(0);
      expect(limited.error.retryAfterMs).toBeLessThanOrEqual(10_000);
    }
    const history = await requestOk(anna, "conversation:history", {
      conversationId,
    });
    expect(history.messages).toHaveLength(3);
  });

  it("limits sends per user across devices", async () => {
    const server = await startServer({ RATE_SEND_PER_USER: "4" });
    const { anna, conversationId } = await chat(server);
    const tablet = await server.connect("anna");
    for (let i = 0; i < 4; i++) {
      const socket = i % 2 === 0 ? anna : tablet;
      await requestOk(socket, "message:send", {
        conversationId,
        clientMessageId: `u${i}`,
        text: "hi",
      });
    }
    const limited = await request(tablet, "message:send", {
      conversationId,
      clientMessageId: "u4",
      text: "hi",
    });
    expect(limited).toMatchObject({
      ok: false,
      error: { code: "rate_limited" },
    });
  });

  it("limits typing per socket", async () => {
    const server = await startServer({ RATE_TYPING_PER_SOCKET: "2" });
    const { anna, conversationId } = await chat(server);
    await requestOk(anna, "typing", { conversationId, isTyping: true });
    await requestOk(anna, "typing", { conversationId, isTyping: true });
    const limited = await request(anna, "typing", {
      conversationId,
      isTyping: true,
    });
    expect(limited).toMatchObject({
      ok: false,
      error: { code: "rate_limited" },
    });
  });

  it("limits all events per socket and still answers them", async () => {
    const server = await startServer({ RATE_EVENTS_PER_SOCKET: "5" });
    const anna = await server.connect("anna");
    const responses = [];
    for (let i = 0; i < 7; i++)
      responses.push(await request(anna, "conversation:list", {}));
    expect(responses.slice(0, 5).every((response) => response.ok)).toBe(true);
    expect(responses[5]).toMatchObject({
      ok: false,
      error: { code: "rate_limited" },
    });
    expect(responses[6]).toMatchObject({
      ok: false,
      error: { code: "rate_limited" },
    });
  });

  it("limits connections per user", async () => {
    const server = await startServer({ MAX_CONNECTIONS_PER_USER: "2" });
    await server.connect("anna");
    await server.connect("anna");
    await expect(server.connect("anna")).rejects.toMatchObject({
      data: { code: "rate_limited" },
    });
    await server.connect("ben");
  });

  it("limits the HTTP API per key with Retry-After", async () => {
    const server = await startServer({ RATE_API_PER_MINUTE: "3" });
    for (let i = 0; i < 3; i++) {
      expect((await server.api("GET", "/api/users/ben/presence")).status).toBe(
        200,
      );
    }
    const response = await fetch(`${server.url}/api/users/ben/presence`, {
      headers: { authorization: "Bearer test-server-api-key" },
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = (await response.json()) as {
      error: { code: string; retryAfterMs: number };
    };
    expect(body.error.code).toBe("rate_limited");
    // Another caller (no key, so its address) has its own budget.
    expect((await fetch(`${server.url}/api/users/ben/presence`)).status).toBe(
      401,
    );
  });

  it("counts activity reports per item", async () => {
    const server = await startServer({ RATE_ACTIVITIES_PER_MINUTE: "3" });
    const item = { action: "follow", actor_id: "b", recipient_id: "a" };
    const three = await server.api("POST", "/api/activities", [
      item,
      item,
      item,
    ]);
    expect(three.status).toBe(200);
    const limited = await server.api("POST", "/api/activities", item);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
  });
});

describe("stalled clients", () => {
  it("disconnects a client that stops reading", async () => {
    const server = await startServer({
      MAX_BUFFERED_BYTES: "65536",
      RATE_SEND_PER_SOCKET: "100000",
      RATE_SEND_PER_USER: "100000",
      RATE_EVENTS_PER_SOCKET: "100000",
    });
    const { anna, conversationId } = await chat(server);
    const ben = await server.connect("ben");
    // Stop reading on ben's TCP socket, as a frozen or throttled client would.
    const engine = (
      ben as unknown as {
        io: { engine: { transport: { ws: { _socket: { pause(): void } } } } };
      }
    ).io.engine;
    engine.transport.ws._socket.pause();
    const benSocketId = ben.id!;

    const text = "x".repeat(3000);
    for (let i = 0; i < 3000; i++) {
      await requestOk(anna, "message:send", {
        conversationId,
        clientMessageId: `f${i}`,
        text,
      });
      if (!server.app.io.sockets.sockets.has(benSocketId)) break;
    }
    await waitUntil(
      () => !server.app.io.sockets.sockets.has(benSocketId),
      5000,
    );
    await waitUntil(
      async () => (await server.app.attention.listDevices("ben")).length === 0,
    );
  });

  it("pushes for a frozen viewer and reaps its socket", async () => {
    const server = await startServer({
      PING_INTERVAL_MS: "300",
      PING_TIMEOUT_MS: "300",
      PUSH_ACK_TIMEOUT_MS: "300",
      PUSH_DEBOUNCE_MS: "100",
    });
    const { anna, conversationId } = await chat(server);
    const { spawn } = await import("node:child_process");
    const token = await server.token("ben");
    // A real client process that views the conversation and acks, then gets SIGSTOPped.
    const script = `
      import { io } from "socket.io-client";
      const socket = io(${JSON.stringify(server.url)}, { auth: { token: ${JSON.stringify(token)} }, transports: ["websocket"], reconnection: false });
      socket.on("message:new", (_m, ack) => ack && ack());
      socket.on("connect", () => socket.emit("conversation:open", { conversationId: ${JSON.stringify(conversationId)} }, () => console.log("viewing")));
    `;
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", script],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    onCleanup(() => {
      child.kill("SIGKILL");
    });
    await new Promise<void>((resolve) =>
      child.stdout!.on(
        "data",
        (chunk: Buffer) => chunk.toString().includes("viewing") && resolve(),
      ),
    );
    expect(
      await server.app.attention.isUserViewing("ben", conversationId),
    ).toBe(true);

    child.kill("SIGSTOP");
    const offline = nextEvent(
      anna,
      "presence",
      (p) => p.userId === "ben" && !p.online,
      5000,
    );
    await requestOk(anna, "message:send", {
      conversationId,
      clientMessageId: "frozen",
      text: "are you there?",
    });
    await waitUntil(async () => {
      const response = await fetch(
        `${server.url}/api/dev/push-outbox?userId=ben`,
      );
      return (
        ((await response.json()) as { pushes: unknown[] }).pushes.length === 1
      );
    }, 5000);
    await offline;
    expect(await server.app.attention.listDevices("ben")).toEqual([]);
    child.kill("SIGCONT");
  });
});

describe("CORS and headers", () => {
  it("sets security headers", async () => {
    const server = await startServer();
    const response = await fetch(`${server.url}/healthz`);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("content-security-policy")).toContain(
      "default-src 'self'",
    );
    expect(response.headers.get("x-powered-by")).toBeNull();
  });

  it("rejects a browser origin that is not listed", async () => {
    const server = await startServer({
      CORS_ORIGINS: "https://app.example.com",
    });
    const allowed = await fetch(
      `${server.url}/socket.io/?EIO=4&transport=polling`,
      { headers: { origin: "https://app.example.com" } },
    );
    expect(allowed.headers.get("access-control-allow-origin")).toBe(
      "https://app.example.com",
    );
    const other = await fetch(
      `${server.url}/socket.io/?EIO=4&transport=polling`,
      { headers: { origin: "https://evil.example" } },
    );
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

// Keeps the unused-import check quiet for helpers that some runs do not need.
void connectClient;
void collect;
export type { ClientSocket };
