import { z } from "zod";

/** Limits of OneSignal's Create Notification API (documentation.onesignal.com, push-notification and create-notification). */
export const ONESIGNAL_LIMITS = {
  /** Bytes of the `data` object as JSON. */
  dataBytes: 2048,
  /**
   * OneSignal rejects notification payloads around 4 KB; we stay below this
   * many bytes of JSON body, counted without `include_aliases`, because the
   * recipient list is not part of what reaches a device.
   */
  bodyBytes: 3500,
  collapseIdLength: 64,
  /** External ids in one request's `include_aliases`, as the SDK's spec allows (the newer guide allows 20,000). */
  aliasesPerRequest: 2000,
  /** Characters of one external id. */
  externalIdLength: 128,
} as const;

const languageMap = z
  .record(z.string().regex(/^[a-z]{2}(-[A-Za-z]{2,4})?$/), z.string().min(1))
  .refine((map) => typeof map.en === "string", "must contain an `en` entry");

/**
 * The one request shape this server sends: a push to one or more users by
 * external_id. `strictObject` rejects any other field, so segments, filters,
 * subscription ids and the top-level `external_id` (the old name of the
 * idempotency key, not a recipient) can never slip in.
 */
export const notificationRequestSchema = z
  .strictObject({
    app_id: z.uuid(),
    target_channel: z.literal("push"),
    include_aliases: z.strictObject({
      external_id: z
        .array(z.string().min(1).max(ONESIGNAL_LIMITS.externalIdLength))
        .min(1)
        .max(ONESIGNAL_LIMITS.aliasesPerRequest),
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
    (body) => payloadBytes(body) <= ONESIGNAL_LIMITS.bodyBytes,
    `the request body without include_aliases must be at most ${ONESIGNAL_LIMITS.bodyBytes} bytes`,
  );

export type NotificationRequest = z.output<typeof notificationRequestSchema>;

/** Bytes of the request as JSON without its recipient list, the size that ONESIGNAL_LIMITS.bodyBytes caps. */
export function payloadBytes(request: {
  include_aliases: { external_id: string[] };
}): number {
  return Buffer.byteLength(
    JSON.stringify({ ...request, include_aliases: undefined }),
  );
}

const UUID_PATTERN =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Checks the limits that a request rendered by this server can still break
 * at run time: recipient count and id length, payload and data size, the
 * 64-character ids and the language maps. Returns the first problem, or
 * null when the request is valid. It is a cheaper stand-in for
 * notificationRequestSchema on the send path, for requests whose fields
 * this server built itself from cleaned text, because the zod parse copies
 * every field of every request.
 */
export function checkRenderedRequest(
  request: NotificationRequest,
): string | null {
  const ids = request.include_aliases.external_id;
  if (ids.length < 1 || ids.length > ONESIGNAL_LIMITS.aliasesPerRequest) {
    return `include_aliases.external_id must list 1 to ${ONESIGNAL_LIMITS.aliasesPerRequest} ids, got ${ids.length}`;
  }
  for (const id of ids) {
    if (id.length < 1 || id.length > ONESIGNAL_LIMITS.externalIdLength) {
      return `external_id must be 1 to ${ONESIGNAL_LIMITS.externalIdLength} characters, got ${id.length}`;
    }
  }
  if (typeof request.contents.en !== "string" || request.contents.en === "") {
    return "contents must contain a non-empty `en` entry";
  }
  if (
    Object.keys(request.headings).sort().join() !==
    Object.keys(request.contents).sort().join()
  ) {
    return "headings must have the same languages as contents";
  }
  for (const field of ["collapse_id", "thread_id", "android_group"] as const) {
    const value = request[field];
    if (value.length < 1 || value.length > ONESIGNAL_LIMITS.collapseIdLength) {
      return `${field} must be 1 to ${ONESIGNAL_LIMITS.collapseIdLength} characters`;
    }
  }
  if (!UUID_PATTERN.test(request.idempotency_key)) {
    return "idempotency_key must be a UUID";
  }
  if (
    Buffer.byteLength(JSON.stringify(request.data)) > ONESIGNAL_LIMITS.dataBytes
  ) {
    return `data must be at most ${ONESIGNAL_LIMITS.dataBytes} bytes as JSON`;
  }
  if (payloadBytes(request) > ONESIGNAL_LIMITS.bodyBytes) {
    return `the request body without include_aliases must be at most ${ONESIGNAL_LIMITS.bodyBytes} bytes`;
  }
  return null;
}

/** Body of a 200 response; `errors` is an array of strings or an object, depending on the case. */
export const notificationResponseSchema = z.object({
  id: z.string().optional().nullable(),
  errors: z
    .union([z.array(z.unknown()), z.record(z.string(), z.unknown())])
    .optional()
    .nullable(),
});
