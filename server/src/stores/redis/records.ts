import { z } from "zod";
import { appStates, type ChatMessage } from "../../protocol/index.js";
import type { Conversation, DeviceAttention } from "../types.js";

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
