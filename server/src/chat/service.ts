import { randomUUID } from "node:crypto";
import { rateLimited } from "../limits/rate-limits.js";
import type { Logger } from "../observability/logger.js";
import {
  AppError,
  type ChatMessage,
  type ClientPayload,
  type ConversationView,
  type HistoryPage,
} from "../protocol/index.js";
import type { Conversation, Stores } from "../stores/types.js";
import {
  directConversationId,
  groupConversationId,
} from "./conversation-ids.js";

export interface ChatLimits {
  messageMaxLength: number;
  conversationMaxMembers: number;
}

export interface Sender {
  userId: string;
  name: string;
}

const DEFAULT_HISTORY_PAGE = 50;
const DEFAULT_LIST_PAGE = 100;
/** Conversations kept in the in-process cache of each node. */
const CONVERSATION_CACHE_SIZE = 10_000;

function checkMember(conversation: Conversation, userId: string) {
  if (!conversation.memberIds.includes(userId)) {
    throw new AppError(
      "forbidden",
      `Not a member of conversation ${conversation.id}`,
    );
  }
  return conversation;
}

let lastIsoMs = 0;
let lastIso = "";

/** Returns the current time as an ISO 8601 string, reusing the last one within the same millisecond. */
function isoNow(): string {
  const now = Date.now();
  if (now !== lastIsoMs) {
    lastIsoMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/**
 * Conversations, messages and read positions: the rules that do not depend
 * on sockets. Socket handlers and HTTP routes call it, then fan out.
 */
export class ChatService {
  private readonly conversationCache = new Map<string, Conversation>();

  constructor(
    private readonly stores: Stores,
    private readonly limits: ChatLimits,
    private readonly logger: Logger,
  ) {}

  /**
   * Creates a conversation of `memberIds` plus the creator, when given. Two
   * distinct members make a direct conversation with a deterministic id, so
   * creating it again returns the existing one with `created` false.
   */
  async createConversation(
    creatorId: string | null,
    memberIds: string[],
    title: string | undefined,
  ): Promise<{ conversation: Conversation; created: boolean }> {
    const members = [
      ...new Set(creatorId ? [creatorId, ...memberIds] : memberIds),
    ].sort();
    if (members.length < 2) {
      throw new AppError(
        "invalid_payload",
        creatorId
          ? "memberIds: a conversation needs at least one member besides the creator"
          : "memberIds: a conversation needs at least two distinct members",
      );
    }
    if (members.length > this.limits.conversationMaxMembers) {
      throw new AppError(
        "payload_too_large",
        `memberIds: a conversation has at most ${this.limits.conversationMaxMembers} members, got ${members.length}`,
      );
    }
    const direct = members.length === 2;
    const result = await this.stores.conversations.create({
      id: direct
        ? directConversationId(members[0]!, members[1]!)
        : groupConversationId(),
      kind: direct ? "direct" : "group",
      title: title ?? null,
      memberIds: members,
      createdAt: new Date().toISOString(),
    });
    if (result.created) {
      this.logger.info(
        {
          conversationId: result.conversation.id,
          creatorId,
          memberCount: members.length,
        },
        "conversation created",
      );
    }
    return result;
  }

  /**
   * Reads a conversation through a small in-process cache. Membership never
   * changes after creation, so a cached conversation is never stale, and a
   * node saves a store round trip on every message.
   */
  private async getConversation(id: string): Promise<Conversation | null> {
    const cached = this.conversationCache.get(id);
    if (cached) return cached;
    const conversation = await this.stores.conversations.get(id);
    if (!conversation) return null;
    this.conversationCache.set(id, conversation);
    if (this.conversationCache.size > CONVERSATION_CACHE_SIZE) {
      // Maps iterate in insertion order, so this drops the oldest entry.
      this.conversationCache.delete(
        this.conversationCache.keys().next().value!,
      );
    }
    return conversation;
  }

  /** Returns the conversation when `userId` is a member; not_found or forbidden otherwise. */
  async requireMembership(
    userId: string,
    conversationId: string,
  ): Promise<Conversation> {
    const conversation = await this.getConversation(conversationId);
    if (!conversation)
      throw new AppError(
        "not_found",
        `Conversation ${conversationId} not found`,
      );
    return checkMember(conversation, userId);
  }

  /**
   * Stores a message from `sender`, or returns the original when the sender
   * already sent this clientMessageId here. The store also marks the
   * sender's own read position, so unread counts only cover other members'
   * messages, and checks the sender's quota (rate_limited when over it).
   */
  async sendMessage(
    sender: Sender,
    payload: ClientPayload<"message:send">,
  ): Promise<{
    conversation: Conversation;
    message: ChatMessage;
    duplicate: boolean;
  }> {
    if (payload.text.length > this.limits.messageMaxLength) {
      throw new AppError(
        "payload_too_large",
        `text: at most ${this.limits.messageMaxLength} characters, got ${payload.text.length}`,
      );
    }
    // A cached conversation is checked without waiting on a promise.
    const cached = this.conversationCache.get(payload.conversationId);
    const conversation = cached
      ? checkMember(cached, sender.userId)
      : await this.requireMembership(sender.userId, payload.conversationId);
    const result = await this.stores.messages.append({
      id: randomUUID(),
      conversationId: conversation.id,
      senderId: sender.userId,
      senderName: sender.name,
      text: payload.text,
      clientMessageId: payload.clientMessageId,
      createdAt: isoNow(),
    });
    if (result.retryAfterMs !== undefined) {
      throw rateLimited(
        "Too many messages from this user",
        result.retryAfterMs,
      );
    }
    return {
      conversation,
      message: result.message,
      duplicate: result.duplicate,
    };
  }

  /**
   * Raises the user's read position, capped at the newest message. Returns
   * the stored position and whether it moved.
   */
  async markRead(
    userId: string,
    conversationId: string,
    seq: number,
  ): Promise<{
    conversation: Conversation;
    readSeq: number;
    advanced: boolean;
  }> {
    const conversation = await this.requireMembership(userId, conversationId);
    const [last] = await this.stores.messages.lastMessages([conversationId]);
    const target = Math.min(seq, last?.seq ?? 0);
    const [before] = await this.stores.reads.getReadSeqs(userId, [
      conversationId,
    ]);
    const readSeq = await this.stores.reads.markRead(
      userId,
      conversationId,
      target,
    );
    return { conversation, readSeq, advanced: readSeq > (before ?? 0) };
  }

  async history(
    userId: string,
    query: ClientPayload<"conversation:history">,
  ): Promise<HistoryPage> {
    await this.requireMembership(userId, query.conversationId);
    return this.stores.messages.range(query.conversationId, {
      beforeSeq: query.beforeSeq,
      afterSeq: query.afterSeq,
      limit: query.limit ?? DEFAULT_HISTORY_PAGE,
    });
  }

  /**
   * Returns one page of the user's conversations, newest first. `nextOffset`
   * is where the next page starts; a conversation created meanwhile shifts
   * the pages by one, so a client dedupes by id.
   */
  async listConversations(
    userId: string,
    page: { offset?: number; limit?: number },
  ): Promise<{
    conversations: ConversationView[];
    hasMore: boolean;
    nextOffset: number;
  }> {
    const offset = page.offset ?? 0;
    const limit = page.limit ?? DEFAULT_LIST_PAGE;
    const allIds = await this.stores.conversations.listIdsForUser(userId);
    const ids = allIds.slice(offset, offset + limit);
    const conversations = (
      await Promise.all(ids.map((id) => this.stores.conversations.get(id)))
    ).filter(
      (conversation): conversation is Conversation => conversation !== null,
    );
    return {
      conversations: await this.viewsFor(userId, conversations),
      hasMore: offset + ids.length < allIds.length,
      nextOffset: offset + ids.length,
    };
  }

  /** Builds each conversation from the point of view of `userId`: last message, unread count, online members. */
  async viewsFor(
    userId: string,
    conversations: Conversation[],
  ): Promise<ConversationView[]> {
    const ids = conversations.map((conversation) => conversation.id);
    const [lastMessages, readSeqs] = await Promise.all([
      this.stores.messages.lastMessages(ids),
      this.stores.reads.getReadSeqs(userId, ids),
    ]);
    const others = [
      ...new Set(conversations.flatMap((c) => c.memberIds)),
    ].filter((id) => id !== userId);
    const online = await this.stores.attention.areOnline(others);
    const onlineSet = new Set(others.filter((_, index) => online[index]));

    return conversations.map((conversation, index) => {
      const lastMessage = lastMessages[index] ?? null;
      const lastSeq = lastMessage?.seq ?? 0;
      const readSeq = Math.min(readSeqs[index] ?? 0, lastSeq);
      return {
        id: conversation.id,
        kind: conversation.kind,
        title: conversation.title,
        memberIds: conversation.memberIds,
        createdAt: conversation.createdAt,
        lastMessage,
        lastSeq,
        readSeq,
        unreadCount: lastSeq - readSeq,
        onlineMemberIds: conversation.memberIds.filter((id) =>
          onlineSet.has(id),
        ),
      };
    });
  }

  /** Users who share at least one conversation with `userId`, without the user. */
  async contactsOf(userId: string): Promise<string[]> {
    const ids = await this.stores.conversations.listIdsForUser(userId);
    const conversations = await Promise.all(
      ids.map((id) => this.stores.conversations.get(id)),
    );
    const contacts = new Set<string>();
    for (const conversation of conversations) {
      for (const memberId of conversation?.memberIds ?? [])
        contacts.add(memberId);
    }
    contacts.delete(userId);
    return [...contacts];
  }
}
