import type { ChatMessage } from "../../protocol/index.js";
import type {
  HistoryQuery,
  HistoryRange,
  MessageDraft,
  MessageStore,
} from "../types.js";

/**
 * Messages past the history limit are removed this many at a time, so a
 * full conversation does not shift its whole array on every append.
 */
const TRIM_CHUNK = 64;

interface ConversationLog {
  /**
   * Messages in seq order. The newest `historyLimit` are kept. Up to
   * TRIM_CHUNK older ones wait before them, to be removed in one go.
   */
  messages: ChatMessage[];
  lastSeq: number;
  /** `senderId \0 clientMessageId` of each kept message, to its message. */
  byClientId: Map<string, ChatMessage>;
}

const clientKey = (senderId: string, clientMessageId: string) =>
  `${senderId}\u0000${clientMessageId}`;

export class MemoryMessageStore implements MessageStore {
  private readonly logs = new Map<string, ConversationLog>();

  constructor(private readonly historyLimit: number) {}

  async append(draft: MessageDraft) {
    let log = this.logs.get(draft.conversationId);
    if (!log) {
      log = { messages: [], lastSeq: 0, byClientId: new Map() };
      this.logs.set(draft.conversationId, log);
    }
    const key = clientKey(draft.senderId, draft.clientMessageId);
    const original = log.byClientId.get(key);
    if (original) return { message: original, duplicate: true };

    log.lastSeq += 1;
    const message: ChatMessage = { ...draft, seq: log.lastSeq };
    log.messages.push(message);
    log.byClientId.set(key, message);

    const length = log.messages.length;
    if (length > this.historyLimit) {
      // The message that just left the kept window is forgotten for dedupe now.
      const left = log.messages[length - this.historyLimit - 1]!;
      log.byClientId.delete(clientKey(left.senderId, left.clientMessageId));
      if (length >= this.historyLimit + TRIM_CHUNK) {
        log.messages.splice(0, length - this.historyLimit);
      }
    }
    return { message, duplicate: false };
  }

  async range(
    conversationId: string,
    query: HistoryQuery,
  ): Promise<HistoryRange> {
    const log = this.logs.get(conversationId);
    if (!log) return { messages: [], hasMore: false, firstSeq: 1 };

    const all = log.messages;
    // Indexes below `base` hold trimmed messages that wait for the next chunk removal.
    const base = Math.max(0, all.length - this.historyLimit);
    const keptCount = all.length - base;
    const firstSeq = log.lastSeq - keptCount + 1;
    const indexOf = (seq: number) => seq - firstSeq;

    let start: number;
    let end: number;
    let hasMore: boolean;
    if (query.afterSeq !== undefined) {
      start = Math.max(0, indexOf(query.afterSeq + 1));
      end = Math.min(keptCount, start + query.limit);
      hasMore = end < keptCount;
    } else {
      end =
        query.beforeSeq === undefined
          ? keptCount
          : Math.min(keptCount, Math.max(0, indexOf(query.beforeSeq)));
      start = Math.max(0, end - query.limit);
      hasMore = start > 0;
    }
    return {
      messages: all.slice(base + start, base + end),
      hasMore,
      firstSeq,
    };
  }

  async lastMessages(conversationIds: string[]) {
    return conversationIds.map(
      (id) => this.logs.get(id)?.messages.at(-1) ?? null,
    );
  }
}
