import type { Redis } from "ioredis";
import type { ChatMessage } from "../../protocol/index.js";
import type {
  AppendResult,
  HistoryQuery,
  HistoryRange,
  MessageDraft,
  MessageStore,
  SendQuota,
} from "../types.js";
import type { RedisKeys } from "./keys.js";
import {
  parseMessage,
  pipelineReplies,
  replyInteger,
  replyTuple,
} from "./records.js";
import type { StoreScripts } from "./scripts.js";

/**
 * Messages of a conversation live in a list of JSON, oldest first, beside a
 * last-seq counter and a hash of client message ids. The list contains the seqs
 * lastSeq - length + 1 .. lastSeq, so seq bounds map to list indices.
 */
export class RedisMessageStore implements MessageStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: StoreScripts,
    private readonly historyLimit: number,
    private readonly sendQuota: SendQuota | null = null,
  ) {}

  /**
   * Checks the quota, deduplicates, assigns the seq, stores, marks the
   * sender's read position and trims in one atomic script call.
   */
  async append(draft: MessageDraft): Promise<AppendResult> {
    // Only the draft's own fields are stored. The script needs an object
    // with at least one field, because it inserts seq before the first one.
    const fields: MessageDraft = {
      id: draft.id,
      conversationId: draft.conversationId,
      senderId: draft.senderId,
      senderName: draft.senderName,
      text: draft.text,
      clientMessageId: draft.clientMessageId,
      createdAt: draft.createdAt,
    };
    const keys = [
      this.keys.messages(draft.conversationId),
      this.keys.lastSeq(draft.conversationId),
      this.keys.clientMessageIds(draft.conversationId),
      this.keys.readSeqs(draft.senderId),
    ];
    const args: (string | number)[] = [
      JSON.stringify(fields),
      draft.senderId,
      draft.clientMessageId,
      this.historyLimit,
      draft.conversationId,
    ];
    if (this.sendQuota) {
      keys.push(this.keys.sendQuota(draft.senderId));
      args.push(this.sendQuota.limit, this.sendQuota.windowMs);
    }
    const reply = replyTuple(
      await this.scripts.appendMessage(keys, args),
      2,
      "append message",
    );
    const status = replyInteger(reply[0], "append message");
    if (status === 2) {
      return { retryAfterMs: replyInteger(reply[1], "append message") };
    }
    if (status === 1) {
      return { message: parseMessage(reply[1]), duplicate: true };
    }
    const message: ChatMessage = {
      ...fields,
      seq: replyInteger(reply[1], "append message"),
    };
    return { message, duplicate: false };
  }

  /** Reads the page in one script call, so the indices match the list it reads. */
  async range(
    conversationId: string,
    query: HistoryQuery,
  ): Promise<HistoryRange> {
    // afterSeq wins over beforeSeq when both are given, as in the memory store.
    const [mode, bound] =
      query.afterSeq !== undefined
        ? ["after", query.afterSeq]
        : query.beforeSeq !== undefined
          ? ["before", query.beforeSeq]
          : ["newest", 0];
    const reply = replyTuple(
      await this.scripts.rangeMessages(
        [this.keys.messages(conversationId), this.keys.lastSeq(conversationId)],
        [mode, bound, query.limit],
      ),
      3,
      "range messages",
    );
    const messages = reply[2];
    if (!Array.isArray(messages)) {
      throw new TypeError(
        "Unexpected reply from the range messages script: expected a list of messages",
      );
    }
    return {
      messages: messages.map(parseMessage),
      hasMore: replyInteger(reply[1], "range messages") === 1,
      firstSeq: replyInteger(reply[0], "range messages"),
    };
  }

  /** Reads the newest message of every conversation in one pipelined round trip. */
  async lastMessages(conversationIds: string[]) {
    if (conversationIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of conversationIds)
      pipeline.lindex(this.keys.messages(id), -1);
    return pipelineReplies(await pipeline.exec()).map((json) =>
      json === null ? null : parseMessage(json),
    );
  }
}
