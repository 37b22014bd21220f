import type {
  AppState,
  ChatMessage,
  ConversationKind,
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

export interface MessageStore {
  /**
   * Appends the draft with the conversation's next seq, as one atomic step.
   * When the same sender already sent `clientMessageId` in this conversation
   * and the original is still kept, returns that original with `duplicate`
   * set and stores nothing. Trims the conversation to the newest
   * `historyLimit` messages, forgetting their client message ids too.
   */
  append(
    draft: MessageDraft,
  ): Promise<{ message: ChatMessage; duplicate: boolean }>;
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
}

export type AttentionPatch = Partial<
  Pick<DeviceAttention, "appState" | "openConversationId">
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
  /** Resolves when the backing store responds, and rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
