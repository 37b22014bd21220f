import { describe, expect, it } from "vitest";
import {
  quickParseMessageSend,
  schemas,
  WIRE_LIMITS,
} from "../../server/src/protocol/index.js";
import { createRandom, randomValue } from "../support/fuzz.js";

const valid = {
  conversationId: "dm_ann_ben",
  clientMessageId: "c-1",
  text: "hello",
};

/** Payloads near each rule of the message:send schema, plus random ones. */
function candidates(): unknown[] {
  const random = createRandom(20261204);
  const fields = ["conversationId", "clientMessageId", "text"] as const;
  const edgeValues: unknown[] = [
    "",
    " ",
    "a b",
    "x".repeat(WIRE_LIMITS.idLength),
    "x".repeat(WIRE_LIMITS.idLength + 1),
    "dm_ann_ben",
    "é",
    "\u200b",
    "\ud800",
    "ok\u0000",
    "~!",
    "x".repeat(WIRE_LIMITS.textLength),
    "x".repeat(WIRE_LIMITS.textLength + 1),
    0,
    null,
    undefined,
    ["a"],
    { a: 1 },
  ];
  const list: unknown[] = [
    valid,
    { ...valid, extra: "dropped" },
    null,
    [],
    [valid],
    "text",
    42,
  ];
  for (const field of fields) {
    for (const value of edgeValues) list.push({ ...valid, [field]: value });
  }
  for (let i = 0; i < 2000; i += 1) {
    const payload: Record<string, unknown> = { ...valid };
    payload[random.pick(fields)] = randomValue(random);
    list.push(payload);
    list.push(randomValue(random));
  }
  return list;
}

describe("quickParseMessageSend", () => {
  it("matches the schema on every payload", () => {
    let accepted = 0;
    for (const raw of candidates()) {
      const quick = quickParseMessageSend(raw);
      const parsed = schemas["message:send"].safeParse(raw);
      if (quick === null) {
        // Same rules, so the quick check rejects only what the schema rejects.
        expect(parsed.success, JSON.stringify(raw)?.slice(0, 200)).toBe(false);
      } else {
        accepted += 1;
        expect(parsed.success).toBe(true);
        expect(quick).toEqual(parsed.data);
      }
    }
    expect(accepted).toBeGreaterThan(10);
  });

  it("drops fields the schema does not know", () => {
    expect(quickParseMessageSend({ ...valid, x: 1 })).toEqual(valid);
  });
});
