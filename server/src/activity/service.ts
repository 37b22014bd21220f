import { createHash, randomUUID } from "node:crypto";
import type { AttentionService } from "../attention/service.js";
import type { Logger } from "../observability/logger.js";
import type { ActivityView } from "../protocol/index.js";
import { batchIdempotencyKey } from "../push/idempotency.js";
import { DRY_RUN_APP_ID, type PushService } from "../push/service.js";
import type { NotificationRequest } from "../push/onesignal/schema.js";
import { shortenText } from "../push/text.js";
import type {
  IdempotencyStore,
  PushBatch,
  PushStores,
} from "../stores/types.js";
import type { Activity, ActivityObjectType } from "./schema.js";
import { renderActivity, type ActivityTemplates } from "./templates.js";

/** Result of one report, as returned per item by POST /api/activities. */
export type ActivityResult =
  | { status: "ignored"; reason: "self_action" }
  | { status: "duplicate"; activityId: string }
  | {
      status: "accepted";
      activityId: string;
      delivery: "live" | "push_scheduled" | "disabled";
    };

export interface ActivityServiceDeps {
  templates: ActivityTemplates;
  rollupMs: number;
  idRetentionMs: number;
  includeContent: boolean;
  /** OneSignal app id, or null in dry-run mode. */
  appId: string | null;
  attention: AttentionService;
  pushStores: PushStores;
  idempotency: IdempotencyStore;
  push: PushService;
  /** Sends `activity:new` to every connected device of the user. */
  emitLive: (userId: string, activity: ActivityView) => void;
  logger: Logger;
}

/** Graphemes of comment text kept in a pending batch. */
const STORED_TEXT_LENGTH = 200;

/** Topic of a roll-up: one per action and object, or per recipient for follows. */
function activityTopic(activity: Activity): string {
  const object = activity.object;
  return object
    ? `${activity.action}:${object.type}:${object.id}`
    : `${activity.action}:user:${activity.recipientId}`;
}

/** collapse_id of a roll-up: the topic hashed into OneSignal's 64-character limit. */
function activityCollapseId(topic: string): string {
  const hash = createHash("sha256").update(topic).digest("base64url");
  return `act_${hash.slice(0, 40)}`;
}

/**
 * Social activity: live `activity:new` events for the recipient's devices,
 * and a rolled-up push when no device of theirs is in the foreground.
 * Reports of one action on one object within `rollupMs` become one push
 * ("Anna and 3 others liked your post."), which replaces the earlier one on
 * the device through its collapse_id.
 */
export class ActivityService {
  constructor(private readonly deps: ActivityServiceDeps) {
    deps.push.handleKind("activity", (batch) => this.fireBatch(batch));
  }

  async report(activity: Activity): Promise<ActivityResult> {
    const { deps } = this;
    const { recipientId, actorId } = activity;
    if (actorId === recipientId) {
      return { status: "ignored", reason: "self_action" };
    }
    if (activity.activityId !== null) {
      const first = await deps.idempotency.claim(
        // Per recipient, so a backend may reuse one event id for a fan-out.
        `activity:${recipientId}:${activity.activityId}`,
        deps.idRetentionMs,
        Date.now(),
      );
      if (!first)
        return { status: "duplicate", activityId: activity.activityId };
    }
    const activityId = activity.activityId ?? randomUUID();
    const topic = activityTopic(activity);
    const decision = {
      userId: recipientId,
      kind: "activity" as const,
      topic,
      count: 1,
      lastItemId: activityId,
    };

    const preferences = await deps.pushStores.preferences.get(recipientId);
    if (preferences.disabledActivities.includes(activity.action)) {
      await deps.push.record({ ...decision, reason: "activity_disabled" });
      return { status: "accepted", activityId, delivery: "disabled" };
    }

    const { contents } = renderActivity(deps.templates, {
      action: activity.action,
      objectType: activity.object?.type ?? null,
      title: activity.object?.title ?? null,
      actorNames: [activity.actorName],
      actorCount: 1,
      text: activity.text,
    });
    deps.emitLive(recipientId, {
      id: activityId,
      action: activity.action,
      actorId,
      actorName: activity.actorName,
      object: activity.object,
      text: activity.text,
      message: contents.en!,
      createdAt: new Date().toISOString(),
    });

    if (await this.isInForeground(recipientId)) {
      await deps.push.record({ ...decision, reason: "delivered_live" });
      return { status: "accepted", activityId, delivery: "live" };
    }
    const now = Date.now();
    await deps.pushStores.queue.add(
      {
        kind: "activity",
        recipientId,
        topic,
        item: {
          id: activityId,
          seq: 0,
          actorId,
          actorName: activity.actorName,
          text: activity.text
            ? shortenText(activity.text, STORED_TEXT_LENGTH)
            : null,
          at: now,
        },
        meta: {
          action: activity.action,
          objectType: activity.object?.type ?? "",
          objectId: activity.object?.id ?? "",
          objectTitle: activity.object?.title ?? "",
        },
      },
      // A fixed window from the first report: every report within it joins the roll-up.
      { debounceMs: deps.rollupMs, maxWaitMs: deps.rollupMs },
      now,
    );
    deps.logger.debug(
      { recipientId, actorId, activityId, topic },
      "activity push scheduled",
    );
    return { status: "accepted", activityId, delivery: "push_scheduled" };
  }

  /** Returns whether a device is in the foreground and responding, so in-app notifications show. */
  private async isInForeground(userId: string): Promise<boolean> {
    const devices = await this.deps.attention.listDevices(userId);
    return devices.some(
      (device) =>
        device.appState === "foreground" && device.ackMissedAt === null,
    );
  }

  private async fireBatch(batch: PushBatch): Promise<void> {
    const { deps } = this;
    const last = batch.items.at(-1);
    if (!last) return;
    const action = batch.meta.action as Activity["action"];
    const decision = {
      userId: batch.recipientId,
      kind: "activity" as const,
      topic: batch.topic,
      count: batch.count,
      lastItemId: last.id,
    };
    if (await this.isInForeground(batch.recipientId)) {
      await deps.push.record({ ...decision, reason: "suppressed_viewing" });
      return;
    }
    await deps.push.deliver(batch, {
      decision,
      settleSeq: 0,
      blockedBy: (preferences) =>
        preferences.disabledActivities.includes(action)
          ? "activity_disabled"
          : null,
      buildRequest: () => this.buildRequest(batch, action),
    });
  }

  private buildRequest(
    batch: PushBatch,
    action: Activity["action"],
  ): NotificationRequest {
    const last = batch.items.at(-1)!;
    const objectType = (batch.meta.objectType ||
      null) as ActivityObjectType | null;
    const title = batch.meta.objectTitle || null;
    const rendered = renderActivity(this.deps.templates, {
      action,
      objectType,
      title,
      actorNames: batch.actors.map((actor) => actor.name),
      actorCount: batch.actors.length,
      text: this.deps.includeContent ? last.text : null,
    });
    const collapseId = activityCollapseId(batch.topic);
    const threadId = `activity_${action}`;
    return {
      app_id: this.deps.appId ?? DRY_RUN_APP_ID,
      target_channel: "push",
      include_aliases: { external_id: [batch.recipientId] },
      headings: rendered.headings,
      contents: rendered.contents,
      data: {
        type: "activity",
        action,
        actor_id: last.actorId,
        recipient_id: batch.recipientId,
        object_type: objectType ?? "user",
        object_id: batch.meta.objectId || last.actorId,
        ...(title ? { object_title: title } : {}),
        activity_id: last.id,
        // Distinct actors, as the text counts them; repeats by one actor count once.
        count: batch.actors.length,
        click_action: objectType ? `open_${objectType}` : "open_profile",
      },
      collapse_id: collapseId,
      thread_id: threadId,
      android_group: threadId,
      idempotency_key: batchIdempotencyKey(
        batch.recipientId,
        batch.topic,
        last.id,
      ),
    };
  }
}
