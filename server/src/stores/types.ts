import type {
  AppState,
  ChatMessage,
  ConversationKind,
  Preferences,
  PreferencesPatch,
  PushDecisionReason,
} from "../protocol/index.js";

/**
 * Storage seams. Each interface has an in-memory implementation for a single
 * process and a Redis implementation for a cluster. The composition root
 * picks one set, and no other module depends on which. Every method may
 * reject when the backing store is unreachable, and callers turn that into
 * an `unavailable` error.
 */

export interface Conversation {
  id: string;
  kind: ConversationKind;
  title: string | null;
  /** Sorted, without duplicates. Membership does not change after creation. */
  memberIds: string[];
  createdAt: string;
}

export interface ConversationStore {
  /**
   * Stores `conversation` unless one with the same id exists. Returns the
   * stored conversation and whether this call created it, so a direct
   * conversation created twice resolves to the first one.
   */
  create(
    conversation: Conversation,
  ): Promise<{ conversation: Conversation; created: boolean }>;
  get(id: string): Promise<Conversation | null>;
  /** Ids of the conversations the user is a member of, newest first. */
  listIdsForUser(userId: string): Promise<string[]>;
}

/** A message before the store assigns its seq. */
export type MessageDraft = Omit<ChatMessage, "seq">;

export interface HistoryQuery {
  beforeSeq?: number;
  afterSeq?: number;
  limit: number;
}

export interface HistoryRange {
  messages: ChatMessage[];
  hasMore: boolean;
  /** Seq of the oldest kept message; lastSeq + 1 when none is kept. */
  firstSeq: number;
}

/** Fixed-window cap on the messages one sender appends, over all conversations. */
export interface SendQuota {
  limit: number;
  windowMs: number;
}

/** Result of an append: the stored or original message, or the wait when the sender is over quota. */
export type AppendResult =
  | { message: ChatMessage; duplicate: boolean; retryAfterMs?: undefined }
  | { retryAfterMs: number };

export interface MessageStore {
  /**
   * Appends the draft with the conversation's next seq, as one atomic step,
   * and raises the sender's read position to it. When the same sender
   * already sent `clientMessageId` in this conversation and the original is
   * still kept, returns that original with `duplicate` set and stores
   * nothing. Trims the conversation to the newest `historyLimit` messages,
   * forgetting their client message ids too. With a send quota, every call
   * counts against the sender's window first, and a call over the quota
   * stores nothing and returns `retryAfterMs`.
   */
  append(draft: MessageDraft): Promise<AppendResult>;
  /**
   * Returns up to `limit` messages in ascending seq order: the newest ones
   * when no bound is given, those below `beforeSeq`, or those above `afterSeq`.
   */
  range(conversationId: string, query: HistoryQuery): Promise<HistoryRange>;
  /** Newest message of each conversation, in the order of `conversationIds`. */
  lastMessages(conversationIds: string[]): Promise<(ChatMessage | null)[]>;
}

export interface ReadStore {
  /** Raises the user's read position to `seq`, never lowers it; returns the position now stored. */
  markRead(
    userId: string,
    conversationId: string,
    seq: number,
  ): Promise<number>;
  /** Read positions in the order of `conversationIds`, 0 where none is stored. */
  getReadSeqs(userId: string, conversationIds: string[]): Promise<number[]>;
}

/** Attention state of one connected socket of a user. */
export interface DeviceAttention {
  socketId: string;
  userId: string;
  /** Server node that the socket is connected to. */
  nodeId: string;
  appState: AppState;
  /** Conversation shown on screen, or null. */
  openConversationId: string | null;
  /** Epoch milliseconds. */
  connectedAt: number;
  /** Epoch milliseconds of the last change to appState or openConversationId. */
  changedAt: number;
  /**
   * Epoch milliseconds at which the device failed to ack a `message:new` in
   * time, or null. Such a device does not count as viewing until it sends
   * an event again, so a half-dead socket cannot swallow pushes.
   */
  ackMissedAt: number | null;
}

export type AttentionPatch = Partial<
  Pick<DeviceAttention, "appState" | "openConversationId" | "ackMissedAt">
>;

export interface AttentionStore {
  /** Records a newly connected socket; `firstDevice` is true when the user was offline before. */
  addDevice(device: DeviceAttention): Promise<{ firstDevice: boolean }>;
  /** Applies the patch and returns the entry before and after it, or null when the socket is not recorded. */
  updateDevice(
    userId: string,
    socketId: string,
    patch: AttentionPatch,
    changedAt: number,
  ): Promise<{ before: DeviceAttention; after: DeviceAttention } | null>;
  /** Forgets a socket; `lastDevice` is true when the user has no socket left. */
  removeDevice(
    userId: string,
    socketId: string,
  ): Promise<{ removed: DeviceAttention | null; lastDevice: boolean }>;
  listDevices(userId: string): Promise<DeviceAttention[]>;
  /** Online flags in the order of `userIds`. */
  areOnline(userIds: string[]): Promise<boolean[]>;
  /** Live devices of each user that has any, in one read; users without devices are left out. */
  listDevicesOf(userIds: string[]): Promise<Map<string, DeviceAttention[]>>;
  /** Devices, per user, that are viewing the conversation right now (see isViewing). */
  findViewers(
    conversationId: string,
    userIds: string[],
  ): Promise<Map<string, DeviceAttention[]>>;
}

export interface Stores {
  conversations: ConversationStore;
  messages: MessageStore;
  reads: ReadStore;
  attention: AttentionStore;
  idempotency: IdempotencyStore;
  /** Resolves when the backing store responds, and rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** One entry of the push decision log. */
export interface PushDecision {
  /** ISO time of the decision. */
  at: string;
  userId: string;
  kind: "message" | "activity";
  /** Conversation id for messages, `action:objectType:objectId` for activities. */
  topic: string;
  reason: PushDecisionReason;
  /** Messages or activities the decision covers. */
  count: number;
  /** Newest message or activity id the decision covers. */
  lastItemId: string;
  /** OneSignal notification id when sent. */
  notificationId?: string;
  /** Plain detail, such as the OneSignal error or the time a deferred push fires. */
  detail?: string;
}

export interface DecisionLog {
  /** Appends a decision, keeping only the newest entries per user. */
  record(decision: PushDecision): Promise<void>;
  /** Newest first, at most `limit`. */
  list(userId: string, limit: number): Promise<PushDecision[]>;
}

export interface PreferencesStore {
  /** The stored preferences, or the defaults (push on, nothing muted) for a new user. */
  get(userId: string): Promise<Preferences>;
  /** Applies the patch atomically and returns the result. Expired mutes are dropped. */
  update(
    userId: string,
    patch: PreferencesPatch,
    now: number,
  ): Promise<Preferences>;
}

/** One message or activity waiting in a push batch. */
export interface PushItem {
  id: string;
  /** Message seq; 0 for activities. */
  seq: number;
  actorId: string;
  actorName: string;
  /** Text to quote in the push, already shortened; null when there is none. */
  text: string | null;
  /** Epoch milliseconds when the item was added. */
  at: number;
}

/** Pending push for one recipient and topic, fired once when due. */
export interface PushBatch {
  /** `kind|recipientId|topic`; one batch per key at a time. */
  key: string;
  kind: "message" | "activity";
  recipientId: string;
  topic: string;
  /** Newest items last, at most PUSH_BATCH_ITEMS_KEPT of them. */
  items: PushItem[];
  /** Items added since the batch was created, including those no longer in `items`. */
  count: number;
  /** Distinct actors in first-seen order, at most PUSH_BATCH_ACTORS_KEPT. */
  actors: { id: string; name: string }[];
  /** Highest item seq (messages) seen in the batch. */
  lastSeq: number;
  /** Epoch milliseconds of the first item. */
  firstAt: number;
  /** Epoch milliseconds at which the batch fires. */
  dueAt: number;
  /** Fixed facts about the topic used to render the push, such as a conversation title. */
  meta: Record<string, string>;
}

export const PUSH_BATCH_ITEMS_KEPT = 10;
export const PUSH_BATCH_ACTORS_KEPT = 100;

export interface PushTiming {
  /** Time in ms from the newest item to the push. */
  debounceMs: number;
  /** Cap in ms from the first item to the push, whatever the debounce requests. */
  maxWaitMs: number;
}

export interface PushQueueEntry {
  kind: PushBatch["kind"];
  recipientId: string;
  topic: string;
  item: PushItem;
  meta: Record<string, string>;
}

export type DueHandler = (batch: PushBatch) => Promise<void>;

/**
 * Debounced push batches and their timer. A batch fires `debounceMs` after
 * its newest item but never later than `maxWaitMs` after its first one, and
 * each due batch is handed to the handler exactly once.
 */
export interface PushQueue {
  /** Adds the item to its batch, creating the batch, and moves the batch's due time. */
  add(entry: PushQueueEntry, timing: PushTiming, now: number): Promise<void>;
  /**
   * Deletes the batch of `key` when it contains nothing newer than `upToSeq`;
   * without `upToSeq` it deletes the batch outright. Returns whether a batch was deleted.
   */
  cancel(key: string, upToSeq?: number): Promise<boolean>;
  /** Puts a fired batch back to fire at `dueAt`, merged with any batch created since. */
  defer(batch: PushBatch, dueAt: number): Promise<void>;
  /** Highest message seq already pushed or settled for `key`; 0 when none. */
  getSettledSeq(key: string): Promise<number>;
  /** Raises the settled seq of `key`; never lowers it. */
  settle(key: string, seq: number): Promise<void>;
  /** Starts handing due batches to `handler`. */
  start(handler: DueHandler): void;
  /** Number of pending batches. */
  size(): Promise<number>;
  /** Stops the timer; pending batches stay stored (in memory they are lost with the process). */
  close(): Promise<void>;
}

export interface PushBudget {
  /**
   * Takes one push from the user's budget of `limit` per rolling `windowMs`.
   * When none is left, returns allowed false and the time in ms until one frees.
   */
  take(
    userId: string,
    limit: number,
    windowMs: number,
    now: number,
  ): Promise<{ allowed: boolean; retryAfterMs: number }>;
}

export interface PushStores {
  preferences: PreferencesStore;
  decisions: DecisionLog;
  queue: PushQueue;
  budget: PushBudget;
}

export interface IdempotencyStore {
  /**
   * Records `key` for `ttlMs` unless it is already recorded. Returns true
   * for the first claim within the TTL and false for every repeat.
   */
  claim(key: string, ttlMs: number, now: number): Promise<boolean>;
}
