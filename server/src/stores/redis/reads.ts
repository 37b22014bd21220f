import type { Redis } from "ioredis";
import type { ReadStore } from "../types.js";
import type { RedisKeys } from "./keys.js";
import { replyInteger } from "./records.js";
import type { StoreScripts } from "./scripts.js";

/** Read positions live in one hash per user, conversation id to seq. */
export class RedisReadStore implements ReadStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: StoreScripts,
  ) {}

  /** Compares and raises in one script, so concurrent calls never lower the position. */
  async markRead(userId: string, conversationId: string, seq: number) {
    const reply = await this.scripts.markRead(
      [this.keys.readSeqs(userId)],
      [conversationId, seq],
    );
    return replyInteger(reply, "mark read");
  }

  async getReadSeqs(userId: string, conversationIds: string[]) {
    if (conversationIds.length === 0) return [];
    const seqs = await this.redis.hmget(
      this.keys.readSeqs(userId),
      ...conversationIds,
    );
    return seqs.map((seq) => (seq === null ? 0 : Number(seq)));
  }
}
