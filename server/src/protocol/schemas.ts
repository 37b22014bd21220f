import { z } from "zod";

/**
 * Hard caps of the wire format. The server applies tighter limits from its
 * config (MESSAGE_MAX_LENGTH, CONVERSATION_MAX_MEMBERS) on top of these.
 */
export const WIRE_LIMITS = {
  idLength: 128,
  textLength: 100_000,
  titleLength: 200,
  memberIds: 10_000,
  historyPage: 100,
  listPage: 500,
} as const;

/**
 * User ids are the app's own ids and double as OneSignal external ids, so
 * they are kept to characters that are safe in URLs, logs and Redis keys.
 */
export const userIdSchema = z
  .string()
  .min(1)
  .max(WIRE_LIMITS.idLength)
  .regex(
    /^[A-Za-z0-9_.@:+|-]+$/,
    "may contain only letters, digits and _ . @ : + | -",
  );

const CONVERSATION_ID_PATTERN = /^[A-Za-z0-9_.:-]+$/;
const CLIENT_MESSAGE_ID_PATTERN = /^[\x21-\x7e]+$/;

export const conversationIdSchema = z
  .string()
  .min(1)
  .max(WIRE_LIMITS.idLength)
  .regex(
    CONVERSATION_ID_PATTERN,
    "may contain only letters, digits and _ . : -",
  );

export const clientMessageIdSchema = z
  .string()
  .min(1)
  .max(WIRE_LIMITS.idLength)
  .regex(CLIENT_MESSAGE_ID_PATTERN, "must be printable ASCII without spaces");

const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** True when the text has a character that shows: not white space, a control, a format character or a lone surrogate. */
const hasVisibleCharacter = (text: string) => /[^\s\p{C}]/u.test(text);

/**
 * Text that people read: valid UTF-16 (no lone surrogates) with at least one
 * visible character, so text made only of zero-width or control characters
 * is rejected.
 */
export function readableText(maxLength: number) {
  return z
    .string()
    .max(maxLength)
    .refine((text) => text.isWellFormed(), "must be valid Unicode text")
    .refine(hasVisibleCharacter, "must contain a visible character");
}

export const displayNameSchema = readableText(
  WIRE_LIMITS.titleLength,
).transform((name) => name.trim());

export const messageTextSchema = readableText(WIRE_LIMITS.textLength);

const titleSchema = readableText(WIRE_LIMITS.titleLength).transform((title) =>
  title.trim(),
);

export const appStates = ["foreground", "background", "idle"] as const;
export type AppState = (typeof appStates)[number];

const clockTimeSchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be a 24-hour time such as 22:00");

const timeZoneSchema = z
  .string()
  .min(1)
  .max(64)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, "must be an IANA time zone such as Europe/Berlin");

/** Daily window without pushes, in the user's time zone; it may span midnight. */
export const quietHoursSchema = z
  .object({
    start: clockTimeSchema,
    end: clockTimeSchema,
    timeZone: timeZoneSchema,
  })
  .refine((hours) => hours.start !== hours.end, "start and end must differ");

export const activityActions = [
  "like",
  "mention",
  "tag",
  "invite",
  "comment",
  "follow",
  "share",
] as const;
export type ActivityAction = (typeof activityActions)[number];

/** Largest number of muted conversations one user may keep. */
export const MAX_MUTED_CONVERSATIONS = 1000;

export const preferencesPatchSchema = z.object({
  pushEnabled: z.boolean().optional(),
  quietHours: quietHoursSchema.nullable().optional(),
  /** Pause all pushes until this time; null clears it. */
  snoozeUntil: z.iso.datetime({ offset: true }).nullable().optional(),
  mute: z
    .array(
      z.object({
        conversationId: conversationIdSchema,
        /** End of the mute as an ISO time; null or absent mutes until unmuted. */
        until: z.iso.datetime({ offset: true }).nullable().optional(),
      }),
    )
    .max(100)
    .optional(),
  unmute: z.array(conversationIdSchema).max(100).optional(),
  disabledActivities: z.array(z.enum(activityActions)).max(20).optional(),
});
export type PreferencesPatch = z.output<typeof preferencesPatchSchema>;

export const schemas = {
  "conversation:create": z.object({
    memberIds: z.array(userIdSchema).min(1).max(WIRE_LIMITS.memberIds),
    title: titleSchema.optional(),
  }),
  "conversation:list": z.object({
    offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    limit: z.number().int().min(1).max(WIRE_LIMITS.listPage).optional(),
  }),
  "conversation:open": z.object({ conversationId: conversationIdSchema }),
  "conversation:close": z.object({ conversationId: conversationIdSchema }),
  "conversation:history": z
    .object({
      conversationId: conversationIdSchema,
      beforeSeq: seqSchema.optional(),
      afterSeq: seqSchema.optional(),
      limit: z.number().int().min(1).max(WIRE_LIMITS.historyPage).optional(),
    })
    .refine(
      (query) => query.beforeSeq === undefined || query.afterSeq === undefined,
      "give beforeSeq or afterSeq, not both",
    ),
  "app:state": z.object({ state: z.enum(appStates) }),
  "message:send": z.object({
    conversationId: conversationIdSchema,
    clientMessageId: clientMessageIdSchema,
    text: messageTextSchema,
  }),
  "message:read": z.object({
    conversationId: conversationIdSchema,
    seq: seqSchema,
  }),
  typing: z.object({
    conversationId: conversationIdSchema,
    isTyping: z.boolean(),
  }),
  "preferences:get": z.object({}),
  "preferences:update": preferencesPatchSchema,
} as const;

export type ClientEventName = keyof typeof schemas;
export type ClientPayload<E extends ClientEventName> = z.output<
  (typeof schemas)[E]
>;

const isIdOf = (value: unknown, pattern: RegExp): value is string =>
  typeof value === "string" &&
  value.length <= WIRE_LIMITS.idLength &&
  pattern.test(value);

/**
 * Checks a `message:send` payload without zod, because every chat message
 * goes through this event. It applies the same rules as the schema with the
 * same patterns, and returns null for anything it does not accept, so the
 * caller runs the schema to get the error. A test compares the two on
 * generated payloads.
 */
export function quickParseMessageSend(
  raw: unknown,
): ClientPayload<"message:send"> | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return null;
  }
  const { conversationId, clientMessageId, text } = raw as Record<
    string,
    unknown
  >;
  if (
    !isIdOf(conversationId, CONVERSATION_ID_PATTERN) ||
    !isIdOf(clientMessageId, CLIENT_MESSAGE_ID_PATTERN) ||
    typeof text !== "string" ||
    text.length > WIRE_LIMITS.textLength ||
    !text.isWellFormed() ||
    !hasVisibleCharacter(text)
  ) {
    return null;
  }
  return { conversationId, clientMessageId, text };
}

/** Checks without zod for the hottest events; each returns null where its schema must decide. */
export const quickParsers: {
  [E in ClientEventName]?: (raw: unknown) => ClientPayload<E> | null;
} = { "message:send": quickParseMessageSend };

/** Body of `POST /api/conversations`. */
export const createConversationBodySchema = z.object({
  memberIds: z.array(userIdSchema).min(2).max(WIRE_LIMITS.memberIds),
  title: titleSchema.optional(),
});

/** Body of `POST /api/dev/token`. */
export const devTokenBodySchema = z.object({
  userId: userIdSchema,
  name: displayNameSchema.optional(),
});
