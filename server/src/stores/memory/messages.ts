import type { ChatMessage } from "../../protocol/index.js";
import type {
  HistoryQuery,
  HistoryRange,
  MessageDraft,
  MessageStore,
} from "../types.js";

interface ConversationLog {
  /** Kept messages in seq order; messages[0] has seq `lastSeq - messages.length + 1`. */
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

    if (log.messages.length > this.historyLimit) {
      const old = log.messages.shift()!;
      log.byClientId.delete(clientKey(old.senderId, old.clientMessageId));
    }
    return { message, duplicate: false };
  }

  async range(
    conversationId: string,
    query: HistoryQuery,
  ): Promise<HistoryRange> {
    const log = this.logs.get(conversationId);
    if (!log) return { messages: [], hasMore: false, firstSeq: 1 };

    const kept = log.messages;
    const firstSeq = log.lastSeq - kept.length + 1;
    const indexOf = (seq: number) => seq - firstSeq;

    let start: number;
    let end: number;
    let hasMore: boolean;
    if (query.afterSeq !== undefined) {
      start = Math.max(0, indexOf(query.afterSeq + 1));
      end = Math.min(kept.length, start + query.limit);
      hasMore = end < kept.length;
    } else {
      end =
        query.beforeSeq === undefined
          ? kept.length
          : Math.min(kept.length, Math.max(0, indexOf(query.beforeSeq)));
      start = Math.max(0, end - query.limit);
      hasMore = start > 0;
    }
    return { messages: kept.slice(start, end), hasMore, firstSeq };
  }

  async lastMessages(conversationIds: string[]) {
    return conversationIds.map(
      (id) => this.logs.get(id)?.messages.at(-1) ?? null,
    );
  }
}
