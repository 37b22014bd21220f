import { z } from "zod";

/** Limits of OneSignal's Create Notification API (documentation.onesignal.com, push-notification and create-notification). */
export const ONESIGNAL_LIMITS = {
  /** Bytes of the `data` object as JSON. */
  dataBytes: 2048,
  /** OneSignal rejects payloads around 4 KB; we stay below this many bytes of JSON body. */
  bodyBytes: 3500,
  collapseIdLength: 64,
} as const;

const languageMap = z
  .record(z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/), z.string().min(1))
  .refine((map) => typeof map.en === "string", "must contain an `en` entry");

/**
 * The one request shape this server sends: a push to a single user by
 * external_id. `strictObject` rejects any other field, so segments, filters,
 * subscription ids and the top-level `external_id` (the old name of the
 * idempotency key, not a recipient) can never slip in.
 */
export const notificationRequestSchema = z
  .strictObject({
    app_id: z.uuid(),
    target_channel: z.literal("push"),
    include_aliases: z.strictObject({
      external_id: z.array(z.string().min(1).max(128)).min(1).max(2000),
    }),
    headings: languageMap,
    contents: languageMap,
    data: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .refine(
        (data) =>
          Buffer.byteLength(JSON.stringify(data)) <= ONESIGNAL_LIMITS.dataBytes,
        `data must be at most ${ONESIGNAL_LIMITS.dataBytes} bytes as JSON`,
      ),
    collapse_id: z.string().min(1).max(ONESIGNAL_LIMITS.collapseIdLength),
    thread_id: z.string().min(1).max(ONESIGNAL_LIMITS.collapseIdLength),
    android_group: z.string().min(1).max(ONESIGNAL_LIMITS.collapseIdLength),
    summary_arg: z.string().max(200).optional(),
    priority: z.number().int().min(0).max(10).optional(),
    ttl: z.number().int().min(0).max(2_419_200).optional(),
    idempotency_key: z.uuid(),
  })
  .refine(
    (body) =>
      Object.keys(body.headings).sort().join() ===
      Object.keys(body.contents).sort().join(),
    "headings must have the same languages as contents",
  )
  .refine(
    (body) =>
      Buffer.byteLength(JSON.stringify(body)) <= ONESIGNAL_LIMITS.bodyBytes,
    `the request body must be at most ${ONESIGNAL_LIMITS.bodyBytes} bytes`,
  );

export type NotificationRequest = z.output<typeof notificationRequestSchema>;

/** Body of a 200 response; `errors` is an array of strings or an object, depending on the case. */
export const notificationResponseSchema = z.object({
  id: z.string().optional().nullable(),
  errors: z
    .union([z.array(z.unknown()), z.record(z.string(), z.unknown())])
    .optional()
    .nullable(),
});
