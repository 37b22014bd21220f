import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { collect, nextEvent } from "../support/client.js";
import { startPushServer, type PushTestServer } from "../support/push.js";
import { waitUntil } from "../support/server.js";

const ROLLUP_ENV = { ACTIVITY_ROLLUP_MS: "150" };

async function report(server: PushTestServer, body: unknown) {
  return server.api("POST", "/api/activities", body);
}

/** Waits for the recipient's pushes to reach `count` and returns their bodies. */
async function pushesTo(
  server: PushTestServer,
  recipientId: string,
  count: number,
) {
  const mine = () =>
    server.oneSignal.notifications.filter(
      (notification) =>
        (notification.body.include_aliases as { external_id: string[] })
          .external_id[0] === recipientId,
    );
  await waitUntil(() => mine().length >= count);
  return mine().map((notification) => notification.body as Record<string, any>);
}

describe("activity reports", () => {
  const cases = [
    [
      { action: "like", actor_name: "Anna", post_id: "p1" },
      "Anna liked your post.",
    ],
    [
      { action: "mention", actor_name: "Leo", comment_id: "c1" },
      "Leo mentioned you in a comment.",
    ],
    [
      { action: "tag", actor_name: "Sara", photo_id: "ph1" },
      "Sara tagged you in a photo.",
    ],
    [
      { action: "invite", actor_name: "Ben", event_id: "e1" },
      "Ben invited you to the event.",
    ],
    [
      {
        action: "comment",
        actor_name: "Maya",
        post_id: "p1",
        comment_id: "c9",
        comment_text: "Looks awesome!",
      },
      "Maya replied: 'Looks awesome!'",
    ],
    [{ action: "follow", actor_name: "James" }, "James started following you."],
    [
      {
        action: "share",
        actor_name: "Alex",
        object: { type: "album", id: "a1", title: "Hawaii Album" },
      },
      "Alex shared 'Hawaii Album' with you.",
    ],
  ] as const;

  for (const [fields, text] of cases) {
    it(`words a ${fields.action} push`, async () => {
      const server = await startPushServer(ROLLUP_ENV);
      const response = await report(server, {
        actor_id: "actor",
        recipient_id: "user_a",
        ...fields,
      });
      expect(response.status).toBe(200);
      expect(response.body.result).toMatchObject({
        status: "accepted",
        delivery: "push_scheduled",
      });
      const [push] = await pushesTo(server, "user_a", 1);
      expect(push!.contents.en).toBe(text);
      expect(push!.data).toMatchObject({
        type: "activity",
        action: fields.action,
        actor_id: "actor",
        recipient_id: "user_a",
        count: 1,
      });
      expect(push!.thread_id).toBe(`activity_${fields.action}`);
      expect(push!.collapse_id.length).toBeLessThanOrEqual(64);
    });
  }

  it("takes the flat form backends send", async () => {
    const server = await startPushServer(ROLLUP_ENV);
    const response = await report(server, {
      action: "like",
      actor_id: "user_b",
      recipient_id: "user_a",
      post_id: "xyz789",
    });
    expect(response.status).toBe(200);
    const [push] = await pushesTo(server, "user_a", 1);
    expect(push!.contents.en).toBe("user_b liked your post.");
    expect(push!.data).toMatchObject({
      object_type: "post",
      object_id: "xyz789",
      click_action: "open_post",
    });
  });

  it("delivers live only to a recipient in the foreground", async () => {
    const server = await startPushServer(ROLLUP_ENV);
    const userA = await server.connect("user_a");
    const live = nextEvent(userA, "activity:new");
    const response = await report(server, {
      action: "like",
      actor_id: "user_b",
      actor_name: "Bea",
      recipient_id: "user_a",
      post_id: "p1",
    });
    expect(response.body.result.delivery).toBe("live");
    const activity = await live;
    expect(activity).toMatchObject({
      action: "like",
      actorId: "user_b",
      actorName: "Bea",
      message: "Bea liked your post.",
    });
    expect(activity.object).toEqual({ type: "post", id: "p1", title: null });
    await server.waitForDecision("user_a", "delivered_live");
    expect(await server.app.pushStores.queue.size()).toBe(0);
    expect(server.oneSignal.requests).toHaveLength(0);
  });

  it("pushes to a recipient whose app is in the background", async () => {
    const server = await startPushServer(ROLLUP_ENV);
    const userA = await server.connect("user_a", { appState: "background" });
    const live = collect(userA, "activity:new");
    await report(server, {
      action: "follow",
      actor_id: "user_b",
      recipient_id: "user_a",
    });
    const [push] = await pushesTo(server, "user_a", 1);
    expect(push!.data.click_action).toBe("open_profile");
    expect(live).toHaveLength(1);
  });

  it("drops a user acting on their own content", async () => {
    const server = await startPushServer(ROLLUP_ENV);
    const response = await report(server, {
      action: "like",
      actor_id: "user_a",
      recipient_id: "user_a",
      post_id: "p1",
    });
    expect(response.body.result).toEqual({
      status: "ignored",
      reason: "self_action",
    });
    expect(await server.app.pushStores.queue.size()).toBe(0);
    expect(await server.decisions("user_a")).toEqual([]);
  });

  it("rolls three likes in the window into one push", async () => {
    const server = await startPushServer({ ACTIVITY_ROLLUP_MS: "400" });
    for (const [actor, name] of [
      ["b", "Anna"],
      ["c", "Ben"],
      ["d", "Cleo"],
      ["e", "Dan"],
    ]) {
      await report(server, {
        action: "like",
        actor_id: actor,
        actor_name: name,
        recipient_id: "user_a",
        post_id: "p1",
      });
    }
    await report(server, {
      action: "like",
      actor_id: "b",
      actor_name: "Anna",
      recipient_id: "user_a",
      post_id: "other",
    });
    const sent = await pushesTo(server, "user_a", 2);
    await server.waitForIdleQueue();
    const rollup = sent.find((push) => push.data.object_id === "p1")!;
    expect(rollup.contents.en).toBe("Anna and 3 others liked your post.");
    expect(rollup.data.count).toBe(4);
    const single = sent.find((push) => push.data.object_id === "other")!;
    expect(single.collapse_id).not.toBe(rollup.collapse_id);
    expect(server.oneSignal.notifications).toHaveLength(2);
  });

  it("delivers a repeated activity_id once", async () => {
    const server = await startPushServer(ROLLUP_ENV);
    const body = {
      action: "like",
      actor_id: "user_b",
      recipient_id: "user_a",
      post_id: "p1",
      activity_id: "evt-1",
    };
    expect((await report(server, body)).body.result.status).toBe("accepted");
    expect((await report(server, body)).body.result).toEqual({
      status: "duplicate",
      activityId: "evt-1",
    });
    const [push] = await pushesTo(server, "user_a", 1);
    expect(push!.data.count).toBe(1);
    expect(push!.data.activity_id).toBe("evt-1");
  });

  it("suppresses a kind the user turned off", async () => {
    const server = await startPushServer(ROLLUP_ENV);
    await server.api("PATCH", "/api/users/user_a/preferences", {
      disabledActivities: ["like"],
    });
    const response = await report(server, {
      action: "like",
      actor_id: "user_b",
      recipient_id: "user_a",
      post_id: "p1",
    });
    expect(response.body.result.delivery).toBe("disabled");
    await server.waitForDecision("user_a", "activity_disabled");
    await report(server, {
      action: "follow",
      actor_id: "user_b",
      recipient_id: "user_a",
    });
    await pushesTo(server, "user_a", 1);
    expect(server.oneSignal.notifications).toHaveLength(1);
  });

  it("reports a bad item in a batch and keeps the good ones", async () => {
    const server = await startPushServer(ROLLUP_ENV);
    const response = await report(server, {
      activities: [
        {
          action: "like",
          actor_id: "b",
          recipient_id: "user_a",
          post_id: "p1",
        },
        { action: "poke", actor_id: "b", recipient_id: "user_a" },
        { action: "like", actor_id: "b", recipient_id: "user_a" },
        { action: "follow", actor_id: "c", recipient_id: "user_z" },
      ],
    });
    expect(response.status).toBe(207);
    const results = response.body.results;
    expect(results.map((result: { status: string }) => result.status)).toEqual([
      "accepted",
      "rejected",
      "rejected",
      "accepted",
    ]);
    expect(results[1].error.code).toBe("invalid_payload");
    expect(results[1].error.message).toMatch(/action/);
    expect(results[2].error.message).toMatch(/needs an object/);
    await pushesTo(server, "user_a", 1);
    await pushesTo(server, "user_z", 1);
  });

  it("rejects invalid single reports with 400", async () => {
    const server = await startPushServer(ROLLUP_ENV);
    const bad = [
      [{ action: "poke", actor_id: "b", recipient_id: "a" }, /action/],
      [{ action: "like", recipient_id: "a", post_id: "p" }, /actor_id/],
      [{ action: "like", actor_id: "b", post_id: "p" }, /recipient_id/],
      [
        {
          action: "like",
          actor_id: "b",
          recipient_id: "a",
          post_id: "x".repeat(500),
        },
        /post_id/,
      ],
      [
        {
          action: "comment",
          actor_id: "b",
          recipient_id: "a",
          post_id: "p",
          comment_text: "y".repeat(5000),
        },
        /comment_text/,
      ],
      [
        {
          action: "follow",
          actor_id: "b",
          recipient_id: "a",
          actor_name: "n".repeat(500),
        },
        /actor_name/,
      ],
    ] as const;
    for (const [body, field] of bad) {
      const response = await report(server, body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(response.body.error.code).toBe("invalid_payload");
      expect(response.body.error.message).toMatch(field);
    }
    const unauthorized = await fetch(`${server.url}/api/activities`, {
      method: "POST",
    });
    expect(unauthorized.status).toBe(401);
  });

  it("renders every configured language from a templates file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "templates-"));
    const file = join(dir, "templates.json");
    writeFileSync(
      file,
      JSON.stringify({
        en: { actions: { like: { single: "{actor} loves your {object}!" } } },
        de: {
          headings: { like: "Neues Like" },
          actions: { like: { single: "{actor} gefällt dein {object}." } },
          objects: { post: { noun: "Beitrag", withArticle: "einen Beitrag" } },
        },
      }),
    );
    const server = await startPushServer({
      ...ROLLUP_ENV,
      ACTIVITY_TEMPLATES_FILE: file,
    });
    await report(server, {
      action: "like",
      actor_id: "b",
      actor_name: "Anna",
      recipient_id: "user_a",
      post_id: "p1",
    });
    const [push] = await pushesTo(server, "user_a", 1);
    expect(push!.contents).toEqual({
      en: "Anna loves your post!",
      de: "Anna gefällt dein Beitrag.",
    });
    expect(push!.headings).toEqual({ en: "New like", de: "Neues Like" });
  });
});
