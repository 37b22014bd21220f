import { describe, expect, it } from "vitest";
import {
  batchIdempotencyKey,
  uuidV5,
} from "../../server/src/push/idempotency.js";
import { renderMessagePush } from "../../server/src/push/message-template.js";
import {
  applyPreferencesPatch,
  defaultPreferences,
  isMuted,
  isQuiet,
} from "../../server/src/push/preferences.js";
import { joinNames, shortenText } from "../../server/src/push/text.js";

const base = {
  conversationKind: "direct" as const,
  conversationTitle: null,
  includeContent: true,
};

describe("message push text", () => {
  it("words one direct message", () => {
    const text = renderMessagePush({
      ...base,
      messages: [{ senderName: "Anna", text: "Hey, you around?" }],
      count: 1,
    });
    expect(text).toEqual({
      heading: "New message",
      content: "New message from Anna: 'Hey, you around?'",
    });
  });

  it("counts a direct burst", () => {
    const messages = ["a", "b", "c"].map((text) => ({
      senderName: "Anna",
      text,
    }));
    const text = renderMessagePush({ ...base, messages, count: 3 });
    expect(text).toEqual({
      heading: "Anna",
      content: "3 new messages from Anna: 'c'",
    });
  });

  it("names the group and its senders", () => {
    const messages = [
      { senderName: "Anna", text: "hi" },
      { senderName: "Ben", text: "yo" },
      { senderName: "Cleo", text: "hey" },
      { senderName: "Dan", text: "sup" },
    ];
    const text = renderMessagePush({
      ...base,
      conversationKind: "group",
      conversationTitle: "Trip",
      messages,
      count: 7,
    });
    expect(text).toEqual({
      heading: "Trip",
      content: "7 new messages from Anna, Ben and 2 others: 'sup'",
    });
  });

  it("leaves out text for privacy", () => {
    const text = renderMessagePush({
      ...base,
      includeContent: false,
      messages: [{ senderName: "Anna", text: "secret" }],
      count: 1,
    });
    expect(text.content).toBe("New message from Anna");
  });
});

describe("shortenText", () => {
  it("keeps short text and flattens whitespace", () => {
    expect(shortenText("  two\n\nlines  ", 100)).toBe("two lines");
  });

  it("cuts at a word boundary with an ellipsis", () => {
    expect(shortenText("the quick brown fox jumps over the lazy dog", 20)).toBe(
      "the quick brown fox…",
    );
  });

  it("never splits an emoji", () => {
    const cut = shortenText("👍🏽".repeat(30), 10);
    expect(cut).toBe(`${"👍🏽".repeat(9)}…`);
  });

  it("cuts a long word mid-word", () => {
    expect(shortenText("x".repeat(50), 10)).toBe(`${"x".repeat(9)}…`);
  });
});

describe("joinNames", () => {
  it("joins one to many names", () => {
    expect(joinNames(["Anna"])).toBe("Anna");
    expect(joinNames(["Anna", "Ben"])).toBe("Anna and Ben");
    expect(joinNames(["Anna", "Ben", "Cleo"])).toBe("Anna, Ben and Cleo");
    expect(joinNames(["Anna", "Ben", "Cleo", "Dan"])).toBe(
      "Anna, Ben and 2 others",
    );
  });
});

describe("idempotency keys", () => {
  it("builds RFC 9562 version 5 UUIDs", () => {
    // Reference value from the RFC 4122 appendix namespace for DNS names.
    expect(
      uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
    ).toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
  });

  it("differ per batch and repeat per retry", () => {
    const first = batchIdempotencyKey("ben", "dm_1", "m1");
    expect(batchIdempotencyKey("ben", "dm_1", "m1")).toBe(first);
    expect(batchIdempotencyKey("ben", "dm_1", "m2")).not.toBe(first);
    expect(batchIdempotencyKey("cleo", "dm_1", "m1")).not.toBe(first);
  });
});

describe("preferences", () => {
  const at = (iso: string) => Date.parse(iso);

  it("mutes until a time and then forgets the mute", () => {
    const muted = applyPreferencesPatch(
      defaultPreferences(),
      {
        mute: [
          { conversationId: "c1", until: "2026-01-01T12:00:00Z" },
          { conversationId: "c2" },
        ],
      },
      at("2026-01-01T10:00:00Z"),
    );
    expect(isMuted(muted, "c1", at("2026-01-01T11:59:00Z"))).toBe(true);
    expect(isMuted(muted, "c1", at("2026-01-01T12:00:01Z"))).toBe(false);
    expect(isMuted(muted, "c2", at("2030-01-01T00:00:00Z"))).toBe(true);
    const later = applyPreferencesPatch(
      muted,
      { unmute: ["c2"] },
      at("2026-01-02T00:00:00Z"),
    );
    expect(later.mutedConversations).toEqual({});
  });

  it("applies quiet hours across midnight in the user's zone", () => {
    const quiet = applyPreferencesPatch(
      defaultPreferences(),
      {
        quietHours: { start: "22:00", end: "07:00", timeZone: "Europe/Berlin" },
      },
      0,
    );
    // Berlin is UTC+1 in January.
    expect(isQuiet(quiet, at("2026-01-15T21:30:00Z"))).toBe(true);
    expect(isQuiet(quiet, at("2026-01-15T05:59:00Z"))).toBe(true);
    expect(isQuiet(quiet, at("2026-01-15T06:00:00Z"))).toBe(false);
    expect(isQuiet(quiet, at("2026-01-15T20:59:00Z"))).toBe(false);
  });

  it("holds pushes while snoozed", () => {
    const snoozed = applyPreferencesPatch(
      defaultPreferences(),
      { snoozeUntil: "2026-01-01T12:00:00Z" },
      at("2026-01-01T10:00:00Z"),
    );
    expect(isQuiet(snoozed, at("2026-01-01T11:00:00Z"))).toBe(true);
    expect(isQuiet(snoozed, at("2026-01-01T12:30:00Z"))).toBe(false);
  });
});

describe("hostile push text", () => {
  it("caps combining marks by UTF-16 units", async () => {
    const { shortenText: shorten } =
      await import("../../server/src/push/text.js");
    const zalgo = "a" + "\u0301".repeat(3999);
    const cut = shorten(zalgo, 100);
    expect(cut.length).toBeLessThanOrEqual(400);
  });

  it("removes controls, bidi overrides and lone surrogates", async () => {
    const { cleanText } = await import("../../server/src/push/text.js");
    expect(cleanText("pay \u202egnp.exe")).toBe("pay gnp.exe");
    expect(cleanText("a\u0001b")).toBe("a b");
    expect(cleanText("x\ud800y")).toBe("x\ufffdy");
    expect(cleanText("👩‍👩‍👧")).toBe("👩‍👩‍👧");
  });

  it("shortens an oversized request instead of failing it", async () => {
    const { fitNotification } =
      await import("../../server/src/push/onesignal/fit.js");
    const { notificationRequestSchema } =
      await import("../../server/src/push/onesignal/schema.js");
    const request = {
      app_id: "00000000-0000-4000-8000-000000000000",
      target_channel: "push" as const,
      include_aliases: { external_id: ["ben"] },
      headings: { en: "👩‍👩‍👧‍👦".repeat(300), de: "Neu" },
      contents: { en: "é".repeat(3000), de: "ü".repeat(3000) },
      data: { type: "message" },
      collapse_id: "c",
      thread_id: "c",
      android_group: "c",
      idempotency_key: "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    };
    expect(notificationRequestSchema.safeParse(request).success).toBe(false);
    const fitted = fitNotification(request);
    expect(notificationRequestSchema.safeParse(fitted).success).toBe(true);
    expect(fitted.contents.en!.endsWith("…")).toBe(true);
  });
});
