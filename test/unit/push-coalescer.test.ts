import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../server/src/observability/logger.js";
import { createMetrics } from "../../server/src/observability/metrics.js";
import { PushCoalescer } from "../../server/src/push/coalescer.js";
import {
  batchIdempotencyKey,
  coalescedIdempotencyKey,
} from "../../server/src/push/idempotency.js";
import { OneSignalSender } from "../../server/src/push/onesignal/client.js";
import {
  checkRenderedRequest,
  notificationRequestSchema,
  type NotificationRequest,
} from "../../server/src/push/onesignal/schema.js";
import type { SendOutcome } from "../../server/src/push/onesignal/sender.js";
import {
  startOneSignalStandIn,
  type OneSignalStandIn,
} from "../support/onesignal-stand-in.js";

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Starts a stand-in on 127.0.0.1 and a coalescer that sends to it through the real OneSignal client. */
async function startCoalescer(): Promise<{
  coalescer: PushCoalescer;
  standIn: OneSignalStandIn;
}> {
  const standIn = await startOneSignalStandIn();
  const sender = new OneSignalSender(
    {
      appId: standIn.appId,
      restApiKey: standIn.apiKey,
      apiUrl: standIn.url,
      requestTimeoutMs: 5000,
      maxRetries: 0,
      retryBaseMs: 10,
      maxConnections: 4,
    },
    createLogger("silent"),
    createMetrics(),
  );
  cleanups.push(() => standIn.close());
  cleanups.push(() => sender.close());
  return {
    coalescer: new PushCoalescer((request) => sender.send(request)),
    standIn,
  };
}

function pushTo(
  recipientId: string,
  overrides: Partial<NotificationRequest> = {},
  lastItemId = "m7",
) {
  const request: NotificationRequest = {
    app_id: "00000000-0000-4000-8000-000000000000",
    target_channel: "push",
    include_aliases: { external_id: [recipientId] },
    headings: { en: "Team" },
    contents: { en: "New message from Anna in Team: 'hi'" },
    data: { type: "message", conversation_id: "c1", message_id: lastItemId },
    collapse_id: "chat_c1",
    thread_id: "chat_c1",
    android_group: "chat_c1",
    priority: 10,
    idempotency_key: batchIdempotencyKey(recipientId, "c1", lastItemId),
    ...overrides,
  };
  return { request, topic: "c1", lastItemId };
}

function aliasesOf(body: Record<string, unknown> | null): string[] {
  return (
    (body?.include_aliases as { external_id?: string[] } | undefined)
      ?.external_id ?? []
  );
}

describe("push coalescer", () => {
  it("splits 2,001 recipients into two requests", async () => {
    const { coalescer, standIn } = await startCoalescer();
    const recipients = Array.from(
      { length: 2001 },
      (_, index) => `user${String(index).padStart(4, "0")}`,
    );

    const outcomes = await Promise.all(
      recipients.map((recipientId) => coalescer.send(pushTo(recipientId))),
    );

    expect(standIn.requests).toHaveLength(2);
    expect(standIn.requests.map((request) => request.status)).toEqual([
      200, 200,
    ]);
    const [full, rest] = standIn.requests.map((request) =>
      aliasesOf(request.body),
    );
    expect(full).toEqual(recipients.slice(0, 2000));
    expect(rest).toEqual(recipients.slice(2000));
    expect(standIn.requests[0]!.body!.idempotency_key).toBe(
      coalescedIdempotencyKey(recipients.slice(0, 2000), "c1", "m7"),
    );
    // One recipient alone keeps the per-recipient key.
    expect(standIn.requests[1]!.body!.idempotency_key).toBe(
      batchIdempotencyKey("user2000", "c1", "m7"),
    );
    expect(outcomes.every((outcome) => outcome.status === "sent")).toBe(true);
  });

  it("lets the stand-in reject 2,001 aliases", async () => {
    const { standIn } = await startCoalescer();
    const ids = Array.from({ length: 2001 }, (_, index) => `u${index}`);
    const response = await fetch(`${standIn.url}/notifications`, {
      method: "POST",
      headers: {
        authorization: `Key ${standIn.apiKey}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        ...pushTo("u0").request,
        app_id: standIn.appId,
        include_aliases: { external_id: ids },
      }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(/at most 2000/);
  });

  it("keeps different notifications in separate requests", async () => {
    const { coalescer, standIn } = await startCoalescer();
    await Promise.all([
      coalescer.send(pushTo("ann")),
      coalescer.send(pushTo("ben")),
      coalescer.send(
        pushTo("cleo", { contents: { en: "2 new messages from Anna" } }),
      ),
    ]);
    const targets = standIn.requests
      .map((request) => aliasesOf(request.body))
      .sort((a, b) => a.length - b.length);
    expect(targets).toEqual([["cleo"], ["ann", "ben"]]);
  });

  it("sends a recipient added twice once", async () => {
    const { coalescer, standIn } = await startCoalescer();
    const outcomes = await Promise.all([
      coalescer.send(pushTo("ann")),
      coalescer.send(pushTo("ann")),
      coalescer.send(pushTo("ben")),
    ]);
    expect(standIn.requests).toHaveLength(1);
    expect(aliasesOf(standIn.requests[0]!.body)).toEqual(["ann", "ben"]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      "sent",
      "sent",
      "sent",
    ]);
  });

  it("maps invalid_aliases and the empty-id answer per recipient", async () => {
    const { coalescer, standIn } = await startCoalescer();
    standIn.unsubscribed.add("ben");
    const [ann, ben] = await Promise.all([
      coalescer.send(pushTo("ann")),
      coalescer.send(pushTo("ben")),
    ]);
    expect(ann).toEqual({
      status: "sent",
      notificationId: standIn.notifications[0]!.id,
    });
    expect(ben.status).toBe("not_subscribed");

    standIn.unsubscribed.add("ann");
    const both = await Promise.all([
      coalescer.send(pushTo("ann", {}, "m8")),
      coalescer.send(pushTo("ben", {}, "m8")),
    ]);
    expect(both.map((outcome) => outcome.status)).toEqual([
      "not_subscribed",
      "not_subscribed",
    ]);
    expect((both[0] as { detail: string }).detail).toMatch(/not subscribed/);
  });

  it("fails every recipient of a failed request", async () => {
    const { coalescer, standIn } = await startCoalescer();
    standIn.script({ status: 403, body: { errors: ["Access denied"] } });
    const outcomes: SendOutcome[] = await Promise.all([
      coalescer.send(pushTo("ann")),
      coalescer.send(pushTo("ben")),
    ]);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ status: "failed" });
      expect((outcome as { detail: string }).detail).toMatch(/HTTP 403/);
    }
  });

  it("rejects a push without exactly one recipient", async () => {
    const { coalescer, standIn } = await startCoalescer();
    const outcome = await coalescer.send(
      pushTo("ann", { include_aliases: { external_id: ["ann", "ben"] } }),
    );
    expect(outcome.status).toBe("failed");
    expect(standIn.requests).toHaveLength(0);
  });
});

describe("rendered request check", () => {
  it("agrees with the zod schema", () => {
    const valid = pushTo("ann").request;
    const cases: [string, NotificationRequest][] = [
      ["valid", valid],
      [
        "2,000 aliases",
        {
          ...valid,
          include_aliases: {
            external_id: Array.from({ length: 2000 }, (_, i) => `u${i}`),
          },
        },
      ],
      [
        "2,001 aliases",
        {
          ...valid,
          include_aliases: {
            external_id: Array.from({ length: 2001 }, (_, i) => `u${i}`),
          },
        },
      ],
      ["empty id", { ...valid, include_aliases: { external_id: [""] } }],
      [
        "long id",
        { ...valid, include_aliases: { external_id: ["x".repeat(129)] } },
      ],
      ["long collapse_id", { ...valid, collapse_id: "c".repeat(65) }],
      ["bad key", { ...valid, idempotency_key: "not-a-uuid" }],
      ["no en", { ...valid, contents: { de: "x" }, headings: { de: "x" } }],
      ["languages differ", { ...valid, headings: { en: "x", de: "y" } }],
      ["big data", { ...valid, data: { text: "d".repeat(2100) } }],
      ["big body", { ...valid, contents: { en: "b".repeat(3500) } }],
    ];
    for (const [name, request] of cases) {
      const zodValid = notificationRequestSchema.safeParse(request).success;
      expect(checkRenderedRequest(request) === null, name).toBe(zodValid);
    }
  });
});
