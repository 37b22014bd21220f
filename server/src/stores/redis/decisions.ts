import type { Redis } from "ioredis";
import type { DecisionLog, PushDecision } from "../types.js";
import type { RedisKeys } from "./keys.js";
import { parsePushDecision, pipelineReplies } from "./records.js";

/** One list per user, newest first, trimmed to `limit` entries on every append. */
export class RedisDecisionLog implements DecisionLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly limit: number,
  ) {}

  /** Pushes and trims in one MULTI, so the list never grows past `limit` entries. */
  async record(decision: PushDecision) {
    const key = this.keys.pushDecisions(decision.userId);
    pipelineReplies(
      await this.redis
        .multi()
        .lpush(key, JSON.stringify(decision))
        .ltrim(key, 0, this.limit - 1)
        .exec(),
    );
  }

  /** Returns an empty list for a `limit` below 1. */
  async list(userId: string, limit: number) {
    if (!(limit >= 1)) return [];
    const entries = await this.redis.lrange(
      this.keys.pushDecisions(userId),
      0,
      Math.floor(limit) - 1,
    );
    return entries.map(parsePushDecision);
  }
}
