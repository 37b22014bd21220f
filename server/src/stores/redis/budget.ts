import { randomUUID } from "node:crypto";
import type { PushBudget } from "../types.js";
import type { RedisKeys } from "./keys.js";
import type { PushScripts } from "./push-scripts.js";
import { replyInteger, replyTuple } from "./records.js";

/**
 * Sliding window log: one sorted set of send times per user, which expires
 * `windowMs` after the newest send, so idle users leave no keys behind.
 */
export class RedisPushBudget implements PushBudget {
  constructor(
    private readonly keys: RedisKeys,
    private readonly scripts: PushScripts,
  ) {}

  /**
   * Trims, counts and logs in one script, so concurrent takes on several
   * nodes never exceed `limit`. `windowMs` must be a positive integer,
   * because Redis takes it as the key's PEXPIRE.
   */
  async take(userId: string, limit: number, windowMs: number, now: number) {
    if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
      throw new RangeError(
        `Push budget windowMs must be a positive integer, got ${windowMs}`,
      );
    }
    // Two sends in the same millisecond need distinct members.
    const member = `${now}:${randomUUID()}`;
    const [allowed, retryAfterMs] = replyTuple(
      await this.scripts.takeBudget(
        [this.keys.pushBudget(userId)],
        [now, windowMs, limit, member],
      ),
      2,
      "take budget",
    );
    return {
      allowed: replyInteger(allowed, "take budget") === 1,
      retryAfterMs: replyInteger(retryAfterMs, "take budget"),
    };
  }
}
