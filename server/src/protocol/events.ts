import type { ErrorBody } from "./errors.js";
import type { z } from "zod";
import type {
  ActivityAction,
  AppState,
  ClientPayload,
  quietHoursSchema,
} from "./schemas.js";

/** A stored chat message as clients see it. */
export interface ChatMessage {
  id: string;
  conversationId: string;
  /** Position in the conversation: 1 for the first message, then one more each time. */
  seq: number;
  senderId: string;
  senderName: string;
  text: string;
  clientMessageId: string;
  /** ISO 8601 time at which the server stored the message. */
  createdAt: string;
}

export type ConversationKind = "direct" | "group";

export interface ConversationView {
  id: string;
  kind: ConversationKind;
  title: string | null;
  memberIds: string[];
  createdAt: string;
  lastMessage: ChatMessage | null;
  /** Seq of the newest message, 0 for an empty conversation. */
  lastSeq: number;
  /** Seq up to which the requesting user has read. */
  readSeq: number;
  unreadCount: number;
  /** Members, other than the requesting user, with at least one connected device. */
  onlineMemberIds: string[];
}

export interface HistoryPage {
  messages: ChatMessage[];
  /** True when older (for beforeSeq) or newer (for afterSeq) messages remain. */
  hasMore: boolean;
  /** Seq of the oldest message still kept; older ones were trimmed by HISTORY_LIMIT. */
  firstSeq: number;
}

/**
 * Ack of `message:send`. The client already has the text, so the ack carries
 * only what the server assigned; for a duplicate it describes the original.
 */
export interface SendResult {
  id: string;
  seq: number;
  createdAt: string;
  duplicate: boolean;
}

export type QuietHours = z.output<typeof quietHoursSchema>;

/** A user's notification settings. Mutes and quiet time stop pushes, never live delivery. */
export interface Preferences {
  pushEnabled: boolean;
  quietHours: QuietHours | null;
  /** ISO time until which every push is held back, or null. */
  snoozeUntil: string | null;
  /** Conversation id to the ISO end of its mute, or null for a mute without end. */
  mutedConversations: Record<string, string | null>;
  disabledActivities: ActivityAction[];
}

/** Reason codes of the push decision log. */
export const PUSH_DECISION_REASONS = [
  "sent",
  "delivered_live",
  "suppressed_viewing",
  "suppressed_read",
  "muted",
  "quiet_period",
  "push_disabled",
  "activity_disabled",
  "budget_exceeded",
  "not_subscribed",
  "failed",
] as const;
export type PushDecisionReason = (typeof PUSH_DECISION_REASONS)[number];

export type AckResponse<T extends object = object> =
  ({ ok: true } & T) | { ok: false; error: ErrorBody };

export type Ack<T extends object = object> = (response: AckResponse<T>) => void;

export interface ClientToServerEvents {
  "conversation:create": (
    payload: ClientPayload<"conversation:create">,
    ack: Ack<{ conversation: ConversationView; created: boolean }>,
  ) => void;
  "conversation:list": (
    payload: ClientPayload<"conversation:list">,
    ack: Ack<{
      conversations: ConversationView[];
      /** True when more conversations follow; ask again with `offset: nextOffset`. */
      hasMore: boolean;
      nextOffset: number;
    }>,
  ) => void;
  "conversation:open": (
    payload: ClientPayload<"conversation:open">,
    ack: Ack,
  ) => void;
  "conversation:close": (
    payload: ClientPayload<"conversation:close">,
    ack: Ack,
  ) => void;
  "conversation:history": (
    payload: ClientPayload<"conversation:history">,
    ack: Ack<HistoryPage>,
  ) => void;
  "app:state": (payload: ClientPayload<"app:state">, ack: Ack) => void;
  "message:send": (
    payload: ClientPayload<"message:send">,
    ack: Ack<SendResult>,
  ) => void;
  "message:read": (
    payload: ClientPayload<"message:read">,
    ack: Ack<{ readSeq: number }>,
  ) => void;
  typing: (payload: ClientPayload<"typing">, ack: Ack) => void;
  "preferences:get": (
    payload: ClientPayload<"preferences:get">,
    ack: Ack<{ preferences: Preferences }>,
  ) => void;
  "preferences:update": (
    payload: ClientPayload<"preferences:update">,
    ack: Ack<{ preferences: Preferences }>,
  ) => void;
}

/** A social activity as the recipient's devices get it in `activity:new`. */
export interface ActivityView {
  id: string;
  action: ActivityAction;
  actorId: string;
  actorName: string;
  object: { type: string; id: string; title: string | null } | null;
  /** Comment text, when the action carries one. */
  text: string | null;
  /** The notification text in English, as a push would show it. */
  message: string;
  createdAt: string;
}

export interface ServerToClientEvents {
  /**
   * A new message in one of the user's conversations. A client calls `ack`
   * once the message is handed to its UI. The ack confirms
   * to the server that a viewing device received the message.
   */
  "message:new": (message: ChatMessage, ack?: () => void) => void;
  "message:read": (receipt: {
    conversationId: string;
    userId: string;
    seq: number;
  }) => void;
  /** Typing state; a client treats it as ended after `ttlMs` without a refresh. */
  typing: (state: {
    conversationId: string;
    userId: string;
    isTyping: boolean;
    ttlMs: number;
  }) => void;
  presence: (state: { userId: string; online: boolean }) => void;
  "conversation:new": (conversation: ConversationView) => void;
  "activity:new": (activity: ActivityView) => void;
}

export type { AppState };
