import type { ChatMessage } from "../../protocol/index.js";
import { FixedWindowCounters } from "../../limits/fixed-window.js";
import type {
  AppendResult,
  HistoryQuery,
  HistoryRange,
  MessageDraft,
  MessageStore,
  SendQuota,
} from "../types.js";
import type { MemoryReadStore } from "./reads.js";

interface ConversationLog {
  /**
   * The newest `historyLimit` messages as a ring: the message with seq `s`
   * sits at index `(s - 1) % historyLimit`. The array grows until it is
   * full, then each append overwrites the oldest message.
   */
  ring: ChatMessage[];
  lastSeq: number;
  /** Kept messages by sender, then by clientMessageId, for dedupe. */
  bySender: Map<string, Map<string, ChatMessage>>;
}

/**
 * Messages of each conversation in memory. An append costs the same with a
 * full history as with an empty one: no array is shifted and no key string
 * is built.
 */
export class MemoryMessageStore implements MessageStore {
  private readonly logs = new Map<string, ConversationLog>();
  private readonly quotaWindows: FixedWindowCounters | null;

  constructor(
    private readonly historyLimit: number,
    private readonly reads: MemoryReadStore,
    private readonly sendQuota: SendQuota | null = null,
  ) {
    this.quotaWindows = sendQuota
      ? new FixedWindowCounters(sendQuota.windowMs)
      : null;
  }

  async append(draft: MessageDraft): Promise<AppendResult> {
    if (this.quotaWindows && this.sendQuota) {
      const retryAfterMs = this.quotaWindows.take(
        draft.senderId,
        1,
        this.sendQuota.limit,
        Date.now(),
      );
      if (retryAfterMs > 0) return { retryAfterMs };
    }
    let log = this.logs.get(draft.conversationId);
    if (!log) {
      log = { ring: [], lastSeq: 0, bySender: new Map() };
      this.logs.set(draft.conversationId, log);
    }
    let sent = log.bySender.get(draft.senderId);
    if (!sent) {
      sent = new Map();
      log.bySender.set(draft.senderId, sent);
    }
    const original = sent.get(draft.clientMessageId);
    if (original) return { message: original, duplicate: true };

    const seq = log.lastSeq + 1;
    const message: ChatMessage = {
      id: draft.id,
      conversationId: draft.conversationId,
      senderId: draft.senderId,
      senderName: draft.senderName,
      text: draft.text,
      clientMessageId: draft.clientMessageId,
      createdAt: draft.createdAt,
      seq,
    };
    const slot = (seq - 1) % this.historyLimit;
    const left = log.ring[slot];
    if (left) {
      // The message leaving the kept window is forgotten for dedupe now.
      const leftSent = log.bySender.get(left.senderId);
      leftSent?.delete(left.clientMessageId);
      if (leftSent?.size === 0 && left.senderId !== draft.senderId) {
        log.bySender.delete(left.senderId);
      }
    }
    log.ring[slot] = message;
    log.lastSeq = seq;
    sent.set(draft.clientMessageId, message);
    this.reads.raise(draft.senderId, draft.conversationId, seq);
    return { message, duplicate: false };
  }

  async range(
    conversationId: string,
    query: HistoryQuery,
  ): Promise<HistoryRange> {
    const log = this.logs.get(conversationId);
    if (!log) return { messages: [], hasMore: false, firstSeq: 1 };

    const lastSeq = log.lastSeq;
    const firstSeq = lastSeq - log.ring.length + 1;
    // Bounds are seqs: `from` included, `to` excluded.
    let from: number;
    let to: number;
    let hasMore: boolean;
    if (query.afterSeq !== undefined) {
      from = Math.max(firstSeq, query.afterSeq + 1);
      to = Math.min(lastSeq + 1, from + query.limit);
      hasMore = to <= lastSeq;
    } else {
      to =
        query.beforeSeq === undefined
          ? lastSeq + 1
          : Math.max(firstSeq, Math.min(lastSeq + 1, query.beforeSeq));
      from = Math.max(firstSeq, to - query.limit);
      hasMore = from > firstSeq;
    }
    const messages: ChatMessage[] = [];
    for (let seq = from; seq < to; seq += 1) {
      messages.push(log.ring[(seq - 1) % this.historyLimit]!);
    }
    return { messages, hasMore, firstSeq };
  }

  async lastMessages(conversationIds: string[]) {
    return conversationIds.map((id) => {
      const log = this.logs.get(id);
      if (!log || log.lastSeq === 0) return null;
      return log.ring[(log.lastSeq - 1) % this.historyLimit] ?? null;
    });
  }
}
