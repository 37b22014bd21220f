import { z } from "zod";
import {
  activityActions,
  appStates,
  PUSH_DECISION_REASONS,
  quietHoursSchema,
  type ChatMessage,
  type Preferences,
} from "../../protocol/index.js";
import type {
  Conversation,
  DeviceAttention,
  PushBatch,
  PushDecision,
  PushItem,
} from "../types.js";

/**
 * Schemas of the JSON records that the Redis stores keep, and checks of
 * script replies. Values read from Redis are checked before they reach
 * callers, so a corrupt or foreign key fails loudly instead of leaking a
 * malformed object.
 */

const chatMessageSchema = z.object({
  id: z.string(),
  conversationId: z.string(),
  seq: z.number().int(),
  senderId: z.string(),
  senderName: z.string(),
  text: z.string(),
  clientMessageId: z.string(),
  createdAt: z.string(),
}) satisfies z.ZodType<ChatMessage>;

const conversationSchema = z.object({
  id: z.string(),
  kind: z.enum(["direct", "group"]),
  title: z.string().nullable(),
  memberIds: z.array(z.string()),
  createdAt: z.string(),
}) satisfies z.ZodType<Conversation>;

const deviceSchema = z.object({
  socketId: z.string(),
  userId: z.string(),
  nodeId: z.string(),
  appState: z.enum(appStates),
  openConversationId: z.string().nullable(),
  connectedAt: z.number(),
  changedAt: z.number(),
  ackMissedAt: z.number().nullable(),
}) satisfies z.ZodType<DeviceAttention>;

function parseRecord<T>(
  schema: z.ZodType<T>,
  json: unknown,
  recordName: string,
): T {
  if (typeof json !== "string") {
    throw new TypeError(
      `Invalid ${recordName} in Redis: expected a JSON string, got ${typeof json}`,
    );
  }
  const result = schema.safeParse(JSON.parse(json));
  if (!result.success) {
    throw new TypeError(
      `Invalid ${recordName} in Redis: ${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}

export const parseMessage = (json: unknown): ChatMessage =>
  parseRecord(chatMessageSchema, json, "message");

export const parseConversation = (json: unknown): Conversation =>
  parseRecord(conversationSchema, json, "conversation");

export const parseDevice = (json: unknown): DeviceAttention =>
  parseRecord(deviceSchema, json, "device attention");

/** Checks that a script reply is an array of `length` entries. */
export function replyTuple(
  reply: unknown,
  length: number,
  script: string,
): unknown[] {
  if (!Array.isArray(reply) || reply.length !== length) {
    throw new TypeError(
      `Unexpected reply from the ${script} script: expected ${length} entries`,
    );
  }
  return reply;
}

/** Checks that a reply entry is an integer. Redis converts Lua numbers to integer replies. */
export function replyInteger(value: unknown, script: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new TypeError(
      `Unexpected reply from the ${script} script: expected an integer, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Throws the first error of a pipeline and returns the replies otherwise.
 * ioredis resolves with null only for a transaction that WATCH aborted.
 */
export function pipelineReplies(
  results: [error: Error | null, reply: unknown][] | null,
): unknown[] {
  if (results === null) throw new Error("Redis transaction was aborted");
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

const preferencesSchema = z.object({
  pushEnabled: z.boolean(),
  quietHours: quietHoursSchema.nullable(),
  snoozeUntil: z.string().nullable(),
  mutedConversations: z.record(z.string(), z.string().nullable()),
  disabledActivities: z.array(z.enum(activityActions)),
}) satisfies z.ZodType<Preferences>;

const pushDecisionSchema = z.object({
  at: z.string(),
  userId: z.string(),
  kind: z.enum(["message", "activity"]),
  topic: z.string(),
  reason: z.enum(PUSH_DECISION_REASONS),
  count: z.number().int(),
  lastItemId: z.string(),
  notificationId: z.string().optional(),
  detail: z.string().optional(),
}) satisfies z.ZodType<PushDecision>;

export const parsePreferences = (json: unknown): Preferences =>
  parseRecord(preferencesSchema, json, "push preferences");

export const parsePushDecision = (json: unknown): PushDecision =>
  parseRecord(pushDecisionSchema, json, "push decision");

/**
 * A push batch as the Lua scripts in push-scripts.ts keep it. Every caller
 * string is a JSON fragment made by JSON.stringify, which cjson passes on
 * as opaque text, because cjson rejects the `\ud800` escape of a lone UTF-16
 * surrogate. Every number is decimal text, because cjson writes numbers
 * with only 14 significant digits. Two fragments of the same string are
 * equal, which is how the scripts find a known actor or meta key.
 */
interface PushBatchRecord {
  /** Fragment of `{ key, kind, recipientId, topic }`, fixed at creation. */
  head: string;
  /** Fragment of each PushItem, oldest first. */
  items: string[];
  count: string;
  /** `[id fragment, name fragment]` per actor, in first-seen order. */
  actors: [string, string][];
  lastSeq: string;
  firstAt: string;
  dueAt: string;
  /** Fragment of each meta key to the fragment of its value. */
  meta: Record<string, string>;
}

/** Decimal text of a finite number, as String() or Lua's `%.17g` write it. */
const decimalSchema = z
  .string()
  .regex(/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i, "must be a decimal number")
  .transform(Number);

/** Builds the schema of an array that cjson may return as `{}`, because it encodes an empty Lua table as an object. */
function cjsonArray<T>(item: z.ZodType<T>) {
  return z.union([z.array(item), z.strictObject({}).transform((): T[] => [])]);
}

const pushBatchRecordSchema = z.object({
  head: z.string(),
  items: cjsonArray(z.string()),
  count: decimalSchema,
  actors: cjsonArray(z.tuple([z.string(), z.string()])),
  lastSeq: decimalSchema,
  firstAt: decimalSchema,
  dueAt: decimalSchema,
  meta: z.record(z.string(), z.string()),
});

const pushBatchHeadSchema = z.object({
  key: z.string(),
  kind: z.enum(["message", "activity"]),
  recipientId: z.string(),
  topic: z.string(),
});

const pushItemSchema = z.object({
  id: z.string(),
  seq: z.number(),
  actorId: z.string(),
  actorName: z.string(),
  text: z.string().nullable(),
  at: z.number(),
}) satisfies z.ZodType<PushItem>;

function decimal(value: number, field: string): string {
  if (!Number.isFinite(value)) {
    throw new RangeError(
      `Push batch ${field} must be a finite number, got ${value}`,
    );
  }
  return String(value);
}

/** Encodes a batch in the record format of the push scripts. Throws RangeError on a non-finite number. */
export function encodePushBatchRecord(batch: PushBatch): string {
  const items = batch.items.map((item) => {
    decimal(item.seq, "item seq");
    decimal(item.at, "item time");
    const fields: PushItem = {
      id: item.id,
      seq: item.seq,
      actorId: item.actorId,
      actorName: item.actorName,
      text: item.text,
      at: item.at,
    };
    return JSON.stringify(fields);
  });
  const record: PushBatchRecord = {
    head: JSON.stringify({
      key: batch.key,
      kind: batch.kind,
      recipientId: batch.recipientId,
      topic: batch.topic,
    }),
    items,
    count: decimal(batch.count, "count"),
    actors: batch.actors.map((actor) => [
      JSON.stringify(actor.id),
      JSON.stringify(actor.name),
    ]),
    lastSeq: decimal(batch.lastSeq, "lastSeq"),
    firstAt: decimal(batch.firstAt, "firstAt"),
    dueAt: decimal(batch.dueAt, "dueAt"),
    meta: Object.fromEntries(
      Object.entries(batch.meta).map(([name, value]) => [
        JSON.stringify(name),
        JSON.stringify(value),
      ]),
    ),
  };
  return JSON.stringify(record);
}

/** Parses one JSON fragment of a batch record and checks it against `schema`. */
function parseFragment<T>(
  schema: z.ZodType<T>,
  fragment: string,
  field: string,
): T {
  let value: unknown;
  try {
    value = JSON.parse(fragment);
  } catch (error) {
    throw new TypeError(
      `Invalid push batch in Redis: ${field} is not JSON (${String(error)})`,
    );
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new TypeError(
      `Invalid push batch in Redis: ${field}: ${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}

/** Decodes a record written by encodePushBatchRecord or by the push scripts. */
export function parsePushBatchRecord(json: unknown): PushBatch {
  const record = parseRecord(pushBatchRecordSchema, json, "push batch");
  const head = parseFragment(pushBatchHeadSchema, record.head, "head");
  // fromEntries defines own properties, so even a `__proto__` key survives.
  const meta = Object.fromEntries(
    Object.entries(record.meta).map(([name, value]) => [
      parseFragment(z.string(), name, "meta key"),
      parseFragment(z.string(), value, "meta value"),
    ]),
  );
  return {
    ...head,
    items: record.items.map((item) =>
      parseFragment(pushItemSchema, item, "item"),
    ),
    count: record.count,
    actors: record.actors.map(([id, name]) => ({
      id: parseFragment(z.string(), id, "actor id"),
      name: parseFragment(z.string(), name, "actor name"),
    })),
    lastSeq: record.lastSeq,
    firstAt: record.firstAt,
    dueAt: record.dueAt,
    meta,
  };
}

/** Parses a stored settled seq, which is 0 when missing. */
export function parseSettledSeq(value: string | null): number {
  if (value === null) return 0;
  const seq = Number(value);
  if (value.trim() === "" || !Number.isFinite(seq)) {
    throw new TypeError(
      `Invalid settled push seq in Redis: expected a number, got ${JSON.stringify(value)}`,
    );
  }
  return seq;
}
