import { SignJWT } from "jose";
import { io as connectClient } from "socket.io-client";
import { describe, expect, it } from "vitest";
import type { ClientEventName } from "../../server/src/protocol/index.js";
import { emitRaw, request, requestOk } from "../support/client.js";
import {
  onCleanup,
  startServer,
  TEST_JWT_SECRET,
  type TestServer,
} from "../support/server.js";

const malformed: Record<ClientEventName, unknown[]> = {
  "conversation:create": [
    null,
    "x",
    { memberIds: [] },
    { memberIds: "ben" },
    { memberIds: [1] },
    { memberIds: ["a b"] },
  ],
  "conversation:list": [null, 42, "list"],
  "conversation:open": [
    {},
    { conversationId: 5 },
    { conversationId: "" },
    { conversationId: "x".repeat(500) },
  ],
  "conversation:close": [{}, { conversationId: null }, [1, 2]],
  "conversation:history": [
    {},
    { conversationId: "c", limit: 0 },
    { conversationId: "c", limit: 1000 },
    { conversationId: "c", beforeSeq: -1 },
    { conversationId: "c", beforeSeq: 3, afterSeq: 1 },
    { conversationId: "c", afterSeq: 1.5 },
  ],
  "app:state": [{}, { state: "asleep" }, { state: ["foreground"] }],
  "message:send": [
    {},
    { conversationId: "c", clientMessageId: "m" },
    { conversationId: "c", clientMessageId: "m", text: "   " },
    { conversationId: "c", clientMessageId: "m", text: "\u200b\u200d\u0001" },
    { conversationId: "c", clientMessageId: "m", text: "half \ud800 pair" },
    { conversationId: "c", clientMessageId: "m", text: 7 },
    { conversationId: "c", clientMessageId: "with space", text: "hi" },
    {
      conversationId: "c",
      clientMessageId: "m",
      text: { __proto__: { polluted: true } },
    },
  ],
  "message:read": [
    {},
    { conversationId: "c" },
    { conversationId: "c", seq: "1" },
    { conversationId: "c", seq: -3 },
  ],
  "preferences:get": [null, "all"],
  "preferences:update": [
    { pushEnabled: "no" },
    { quietHours: { start: "25:00", end: "07:00", timeZone: "UTC" } },
    { quietHours: { start: "22:00", end: "07:00", timeZone: "Mars/Olympus" } },
    { quietHours: { start: "22:00", end: "22:00", timeZone: "UTC" } },
    { mute: [{ conversationId: "c", until: "tomorrow" }] },
    { unmute: "c" },
    { disabledActivities: ["poke"] },
    { snoozeUntil: 12 },
  ],
  typing: [
    {},
    { conversationId: "c" },
    { conversationId: "c", isTyping: "yes" },
  ],
};

async function connectRaw(server: TestServer, auth: Record<string, unknown>) {
  const socket = connectClient(server.url, {
    auth,
    transports: ["websocket"],
    reconnection: false,
  });
  onCleanup(() => {
    socket.disconnect();
  });
  return new Promise<{
    connected: boolean;
    data?: { code: string; message: string };
  }>((resolve) => {
    socket.once("connect", () => resolve({ connected: true }));
    socket.once("connect_error", (error) =>
      resolve({ connected: false, data: (error as { data?: never }).data }),
    );
  });
}

describe("payload validation", () => {
  for (const [event, payloads] of Object.entries(malformed)) {
    it(`rejects malformed ${event} with invalid_payload`, async () => {
      const server = await startServer();
      const socket = await server.connect("anna");
      for (const payload of payloads) {
        const response = await request(
          socket,
          event as ClientEventName,
          payload,
        );
        expect(response, JSON.stringify(payload)).toMatchObject({
          ok: false,
          error: { code: "invalid_payload" },
        });
        if (!response.ok)
          expect(response.error.message).not.toMatch(/at .*\.ts/);
      }
      const list = await requestOk(socket, "conversation:list", {});
      expect(list.conversations).toEqual([]);
    });
  }

  it("survives events without ack, unknown events and binary payloads", async () => {
    const server = await startServer();
    const socket = await server.connect("anna");
    emitRaw(socket, "message:send", { conversationId: "x" });
    emitRaw(socket, "message:send");
    emitRaw(socket, "no:such:event", { a: 1 });
    emitRaw(socket, "message:send", Buffer.from([1, 2, 3]), () => {});
    emitRaw(
      socket,
      "conversation:create",
      JSON.parse('{"__proto__":{"admin":true},"memberIds":["ben"]}'),
    );
    const response = await requestOk(socket, "conversation:create", {
      memberIds: ["ben"],
    });
    expect(response.conversation.kind).toBe("direct");
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it("disconnects a client whose packet exceeds MAX_PAYLOAD_BYTES", async () => {
    const server = await startServer({ MAX_PAYLOAD_BYTES: "4096" });
    const socket = await server.connect("anna");
    const closed = new Promise<string>((resolve) =>
      socket.on("disconnect", (reason) => resolve(reason)),
    );
    emitRaw(socket, "message:send", {
      conversationId: "c",
      clientMessageId: "big",
      text: "x".repeat(10_000),
    });
    expect(await closed).toBe("transport close");
    const again = await server.connect("anna");
    expect(
      (await requestOk(again, "conversation:list", {})).conversations,
    ).toEqual([]);
  });
});

describe("handshake", () => {
  const secret = new TextEncoder().encode(TEST_JWT_SECRET);

  it("accepts a valid token and carries its name", async () => {
    const server = await startServer();
    const token = await new SignJWT({ name: "Anna" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("anna")
      .setExpirationTime("1h")
      .sign(secret);
    expect(await connectRaw(server, { token })).toEqual({ connected: true });
  });

  it("refuses missing, tampered, expired and unsigned tokens", async () => {
    const server = await startServer();
    const valid = await server.token("anna");
    const [header, payload] = valid.split(".");
    const forgedPayload = Buffer.from(
      JSON.stringify({ sub: "admin", exp: 9_999_999_999 }),
    ).toString("base64url");
    const unsignedHeader = Buffer.from(
      JSON.stringify({ alg: "none", typ: "JWT" }),
    ).toString("base64url");
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("anna")
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(secret);
    const noExpiry = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("anna")
      .sign(secret);
    const wrongSecret = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("anna")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("another-secret-of-thirty-two-chars!!"));
    const wrongAlgorithm = await new SignJWT({})
      .setProtectedHeader({ alg: "HS512" })
      .setSubject("anna")
      .setExpirationTime("1h")
      .sign(secret);
    const badSubject = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("has space")
      .setExpirationTime("1h")
      .sign(secret);

    const cases: Record<string, unknown> = {
      missing: undefined,
      number: 12,
      garbage: "not-a-jwt",
      tampered: `${header}.${forgedPayload}.${valid.split(".")[2]}`,
      unsigned: `${unsignedHeader}.${payload}.`,
      expired,
      noExpiry,
      wrongSecret,
      wrongAlgorithm,
      badSubject,
    };
    for (const [name, token] of Object.entries(cases)) {
      const result = await connectRaw(
        server,
        token === undefined ? {} : { token },
      );
      expect(result.connected, name).toBe(false);
      expect(result.data?.code, name).toBe("unauthorized");
    }
    const expiredResult = await connectRaw(server, { token: expired });
    expect(expiredResult.data?.message).toBe("Token expired");
  });
});

describe("HTTP API", () => {
  it("serves health and readiness", async () => {
    const server = await startServer();
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({
      status: "ok",
    });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it("creates conversations for the app backend and announces them", async () => {
    const server = await startServer();
    const ben = await server.connect("ben");
    const announced = new Promise((resolve) =>
      ben.once("conversation:new", resolve),
    );
    const created = await server.api("POST", "/api/conversations", {
      memberIds: ["anna", "ben"],
    });
    expect(created.status).toBe(201);
    expect(created.body.conversation.kind).toBe("direct");
    expect(await announced).toMatchObject({ id: created.body.conversation.id });
    const again = await server.api("POST", "/api/conversations", {
      memberIds: ["ben", "anna"],
    });
    expect(again.status).toBe(200);
    expect(again.body.conversation.id).toBe(created.body.conversation.id);
  });

  it("rejects bad bodies and keys with coded JSON errors", async () => {
    const server = await startServer();
    const invalid = await server.api("POST", "/api/conversations", {
      memberIds: ["only-one"],
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe("invalid_payload");
    expect(invalid.body.error.message).toMatch(/memberIds/);

    const noKey = await fetch(`${server.url}/api/users/ben/presence`);
    expect(noKey.status).toBe(401);
    expect(
      ((await noKey.json()) as { error: { code: string } }).error.code,
    ).toBe("unauthorized");
    const wrongKey = await fetch(`${server.url}/api/users/ben/presence`, {
      headers: { authorization: "Bearer nope" },
    });
    expect(wrongKey.status).toBe(401);

    const badJson = await fetch(`${server.url}/api/dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{oops",
    });
    expect(badJson.status).toBe(400);
    expect(
      ((await badJson.json()) as { error: { code: string } }).error.code,
    ).toBe("invalid_payload");

    const huge = await fetch(`${server.url}/api/dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: "x".repeat(200_000) }),
    });
    expect(huge.status).toBe(413);

    const unknown = await fetch(`${server.url}/nope`);
    expect(unknown.status).toBe(404);
    const badUser = await server.api("GET", "/api/users/has%20space/presence");
    expect(badUser.status).toBe(400);
  });

  it("has no dev token endpoint when DEV_AUTH is off", async () => {
    const server = await startServer({ DEV_AUTH: "false" });
    const response = await fetch(`${server.url}/api/dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: "anna" }),
    });
    expect(response.status).toBe(401);
  });
});
