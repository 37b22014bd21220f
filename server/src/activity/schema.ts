import { z } from "zod";
import {
  activityActions,
  readableText,
  userIdSchema,
  type ActivityAction,
} from "../protocol/index.js";

export const activityObjectTypes = [
  "post",
  "comment",
  "photo",
  "event",
  "album",
] as const;
export type ActivityObjectType = (typeof activityObjectTypes)[number];

/** Maximum number of reports in one POST /api/activities. */
export const MAX_ACTIVITY_BATCH = 100;

export const ACTIVITY_LIMITS = {
  nameLength: 100,
  titleLength: 200,
  textLength: 2000,
  idLength: 128,
} as const;

const objectIdSchema = z
  .string()
  .min(1)
  .max(ACTIVITY_LIMITS.idLength)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");
const titleSchema = readableText(ACTIVITY_LIMITS.titleLength).transform(
  (title) => title.trim(),
);

/**
 * Order in which flat `<type>_id` fields are tried for the object,
 * most specific first. A comment report carries the new comment's id and
 * the id of what was commented on; the object is the latter.
 */
const FLAT_OBJECT_ORDER: Record<ActivityAction, ActivityObjectType[]> = {
  like: ["comment", "photo", "post", "album", "event"],
  mention: ["comment", "post", "photo", "album", "event"],
  tag: ["photo", "post", "comment", "album", "event"],
  invite: ["event", "album", "post", "photo", "comment"],
  comment: ["post", "photo", "album", "event", "comment"],
  follow: [],
  share: ["album", "photo", "post", "event", "comment"],
};

const rawActivitySchema = z.object({
  action: z.enum(activityActions),
  actor_id: userIdSchema,
  recipient_id: userIdSchema,
  actor_name: readableText(ACTIVITY_LIMITS.nameLength)
    .transform((name) => name.trim())
    .optional(),
  /** Id of this report; a repeat with the same id is delivered once. */
  activity_id: objectIdSchema.optional(),
  object: z
    .object({
      type: z.enum(activityObjectTypes),
      id: objectIdSchema,
      title: titleSchema.optional(),
    })
    .optional(),
  post_id: objectIdSchema.optional(),
  comment_id: objectIdSchema.optional(),
  photo_id: objectIdSchema.optional(),
  event_id: objectIdSchema.optional(),
  album_id: objectIdSchema.optional(),
  title: titleSchema.optional(),
  object_title: titleSchema.optional(),
  comment_text: readableText(ACTIVITY_LIMITS.textLength).optional(),
  text: readableText(ACTIVITY_LIMITS.textLength).optional(),
});

export interface Activity {
  action: ActivityAction;
  actorId: string;
  actorName: string;
  recipientId: string;
  activityId: string | null;
  object: { type: ActivityObjectType; id: string; title: string | null } | null;
  /** Comment text, when the action carries one. */
  text: string | null;
}

/**
 * One activity report, in the nested form or the flat form app backends
 * send (`{"action": "like", "actor_id": "b", "recipient_id": "a",
 * "post_id": "xyz789"}`). Every action but follow needs an object.
 */
export const activityInputSchema = rawActivitySchema.transform(
  (raw, context): Activity => {
    let object: Activity["object"] = null;
    if (raw.object) {
      object = { ...raw.object, title: raw.object.title ?? null };
    } else {
      const type = FLAT_OBJECT_ORDER[raw.action].find(
        (candidate) => raw[`${candidate}_id`] !== undefined,
      );
      if (type) {
        object = {
          type,
          id: raw[`${type}_id`]!,
          title: raw.object_title ?? raw.title ?? null,
        };
      }
    }
    if (!object && raw.action !== "follow") {
      context.addIssue({
        code: "custom",
        path: ["object"],
        message: `a ${raw.action} needs an object: object {type, id} or one of post_id, comment_id, photo_id, event_id, album_id`,
      });
      return z.NEVER;
    }
    const text = raw.comment_text ?? raw.text ?? null;
    return {
      action: raw.action,
      actorId: raw.actor_id,
      actorName: raw.actor_name ?? raw.actor_id,
      recipientId: raw.recipient_id,
      activityId: raw.activity_id ?? null,
      object,
      text: text && text.trim().length > 0 ? text : null,
    };
  },
);

/** A single report, an array of reports, or `{ activities: [...] }`. */
export const activityBodySchema = z.union([
  z.array(z.unknown()).min(1),
  z.object({ activities: z.array(z.unknown()).min(1) }),
  z.record(z.string(), z.unknown()),
]);
