import { describe, expect, it } from "vitest";
import {
  ERROR_CODES,
  type ClientEventName,
} from "../../server/src/protocol/index.js";
import { emitRaw, request, requestOk } from "../support/client.js";
import {
  createRandom,
  deeplyNested,
  mutate,
  randomValue,
} from "../support/fuzz.js";
import { startServer } from "../support/server.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20261204);
/** Payloads per client event; the whole file stays within a few seconds. */
const ROUNDS = 120;

const CODES = new Set<string>(ERROR_CODES);

/** Checks that an ack is either ok or a coded error with a plain message. */
function expectWellFormed(response: unknown, context: string) {
  expect(typeof response, context).toBe("object");
  const ack = response as {
    ok: unknown;
    error?: { code: unknown; message: unknown };
  };
  if (ack.ok === true) return;
  expect(ack.ok, context).toBe(false);
  expect(
    CODES.has(String(ack.error?.code)),
    `${context}: code ${String(ack.error?.code)}`,
  ).toBe(true);
  expect(typeof ack.error?.message, context).toBe("string");
  expect(String(ack.error?.message), context).not.toMatch(
    /\n\s+at |node_modules|\.ts:\d+/,
  );
}

describe("fuzzing", () => {
  it("answers every client event with a coded ack and stays consistent", async () => {
    const random = createRandom(SEED);
    const server = await startServer({
      MAX_PAYLOAD_BYTES: "1048576",
      RATE_EVENTS_PER_SOCKET: "100000",
      RATE_SEND_PER_SOCKET: "100000",
      RATE_SEND_PER_USER: "100000",
      RATE_TYPING_PER_SOCKET: "100000",
    });
    const anna = await server.connect("anna", { name: "Anna" });
    const ben = await server.connect("ben");
    const { conversation } = await requestOk(anna, "conversation:create", {
      memberIds: ["ben"],
    });
    const conversationId = conversation.id;
    const valid: Record<ClientEventName, Record<string, unknown>> = {
      "conversation:create": { memberIds: ["ben"], title: "t" },
      "conversation:list": {},
      "conversation:open": { conversationId },
      "conversation:close": { conversationId },
      "conversation:history": { conversationId, afterSeq: 0, limit: 10 },
      "app:state": { state: "foreground" },
      "message:send": {
        conversationId,
        clientMessageId: "fuzz",
        text: "hello",
      },
      "message:read": { conversationId, seq: 1 },
      typing: { conversationId, isTyping: true },
      "preferences:get": {},
      "preferences:update": { pushEnabled: true, mute: [{ conversationId }] },
    };

    let sent = 0;
    for (const [event, payload] of Object.entries(valid) as [
      ClientEventName,
      Record<string, unknown>,
    ][]) {
      for (let round = 0; round < ROUNDS; round++) {
        const fuzzed = mutate(random, payload);
        if (random.next() < 0.1) {
          // No ack: the server must process or drop it without a response.
          emitRaw(anna, event, fuzzed);
          continue;
        }
        const response = await request(anna, event, fuzzed);
        expectWellFormed(
          response,
          `${event} ${JSON.stringify(fuzzed)?.slice(0, 120)}`,
        );
        if (event === "message:send" && (response as { ok: boolean }).ok)
          sent++;
      }
    }

    // Odd shapes: extra arguments, binary attachments, unknown events, deep nesting.
    emitRaw(anna, "message:send", Buffer.alloc(1024), { x: 1 }, () => {});
    emitRaw(anna, "no:such:event", randomValue(random));
    emitRaw(anna, "constructor", {});
    emitRaw(anna, "__proto__", {});
    const deep = await request(anna, "message:send", deeplyNested(2000));
    expectWellFormed(deep, "deeply nested payload");

    // The server is up and its state consistent.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const history = await requestOk(ben, "conversation:history", {
      conversationId,
      afterSeq: 0,
      limit: 100,
    });
    const seqs = history.messages.map((message) => message.seq);
    expect(seqs).toEqual(
      Array.from({ length: seqs.length }, (_, index) => index + 1),
    );
    expect(
      new Set(history.messages.map((message) => message.clientMessageId)).size,
    ).toBe(seqs.length);
    expect(seqs.length).toBeLessThanOrEqual(sent);
    expect(
      history.messages.every((message) => message.senderId === "anna"),
    ).toBe(true);
    const list = await requestOk(anna, "conversation:list", {});
    expect(
      list.conversations.every((entry) => entry.memberIds.includes("anna")),
    ).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("admin");
  });

  it("answers every HTTP endpoint with a coded JSON error and stays up", async () => {
    const random = createRandom(SEED + 1);
    const server = await startServer({
      RATE_API_PER_MINUTE: "100000",
      RATE_ACTIVITIES_PER_MINUTE: "1000000",
    });
    const endpoints: [string, string][] = [
      ["POST", "/api/conversations"],
      ["POST", "/api/activities"],
      ["PATCH", "/api/users/anna/preferences"],
      ["POST", "/api/dev/token"],
      ["GET", "/api/users/%E0%A4%A/presence"],
      ["GET", "/api/users/anna/push-decisions?limit=abc"],
      ["GET", "/api/dev/push-outbox?userId=__proto__&limit=-1"],
    ];
    for (const [method, path] of endpoints) {
      for (let round = 0; round < 60; round++) {
        const value = randomValue(random);
        const raw =
          random.next() < 0.2 ? '{"a":' : JSON.stringify(value ?? null);
        const response = await fetch(`${server.url}${path}`, {
          method,
          headers: {
            authorization: "Bearer test-server-api-key",
            "content-type": random.pick([
              "application/json",
              "text/plain",
              "application/json; charset=utf-16",
            ]),
          },
          body: method === "GET" ? undefined : raw,
        });
        const context = `${method} ${path} ${raw.slice(0, 80)}`;
        expect(response.status, context).toBeLessThan(500);
        const text = await response.text();
        expect(text, context).not.toMatch(/\n\s+at |node_modules/);
        if (response.status >= 400) {
          const body = JSON.parse(text) as {
            error: { code: string; message: string };
          };
          expect(CODES.has(body.error.code), context).toBe(true);
        }
      }
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
