import type { Redis } from "ioredis";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { Config } from "../config.js";
import { AppError } from "../protocol/index.js";

export type LimitName =
  | "sendPerUser"
  | "sendPerSocket"
  | "typingPerSocket"
  | "eventsPerSocket"
  | "apiPerMinute"
  | "activitiesPerMinute"
  | "createPerUser";

/** Limits counted per socket live on the node that the socket is connected to. */
const SOCKET_LIMITS = new Set<LimitName>([
  "sendPerSocket",
  "typingPerSocket",
  "eventsPerSocket",
]);

const WINDOW_SECONDS: Record<LimitName, number> = {
  sendPerUser: 10,
  sendPerSocket: 10,
  typingPerSocket: 10,
  eventsPerSocket: 10,
  apiPerMinute: 60,
  activitiesPerMinute: 60,
  createPerUser: 60,
};

const MESSAGES: Record<LimitName, string> = {
  sendPerUser: "Too many messages from this user",
  sendPerSocket: "Too many messages from this connection",
  typingPerSocket: "Too many typing updates from this connection",
  eventsPerSocket: "Too many events from this connection",
  apiPerMinute: "Too many requests for this API key",
  activitiesPerMinute: "Too many activity reports for this API key",
  createPerUser: "Too many new conversations from this user",
};

/**
 * Fixed-window rate limits from rate-limiter-flexible. Per-socket limits are
 * kept in memory. Per-user and per-key limits are kept in Redis in a
 * cluster, so they hold across nodes, with an in-memory limiter standing in
 * while Redis is away.
 */
export class RateLimits {
  private readonly limiters: Record<LimitName, RateLimiterAbstract>;
  private readonly memoryLimiters: RateLimiterMemory[] = [];

  constructor(
    limits: Config["rateLimits"],
    redis: { client: Redis; prefix: string } | null,
  ) {
    const build = (name: LimitName): RateLimiterAbstract => {
      const options = {
        points: limits[name],
        duration: WINDOW_SECONDS[name],
        keyPrefix: `rl-${name}`,
      };
      const memory = new RateLimiterMemory(options);
      this.memoryLimiters.push(memory);
      if (!redis || SOCKET_LIMITS.has(name)) return memory;
      return new RateLimiterRedis({
        ...options,
        storeClient: redis.client,
        keyPrefix: `${redis.prefix}rl:${name}`,
        insuranceLimiter: memory,
        rejectIfRedisNotReady: true,
      });
    };
    this.limiters = {
      sendPerUser: build("sendPerUser"),
      sendPerSocket: build("sendPerSocket"),
      typingPerSocket: build("typingPerSocket"),
      eventsPerSocket: build("eventsPerSocket"),
      apiPerMinute: build("apiPerMinute"),
      activitiesPerMinute: build("activitiesPerMinute"),
      createPerUser: build("createPerUser"),
    };
  }

  /** Takes `points` from the limit of `key`; throws rate_limited with a retry hint when none are left. */
  async consume(name: LimitName, key: string, points = 1): Promise<void> {
    try {
      await this.limiters[name].consume(key, points);
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw new AppError(
          "rate_limited",
          `${MESSAGES[name]}; retry in ${Math.ceil(error.msBeforeNext / 1000)} s`,
          error.msBeforeNext,
        );
      }
      throw error;
    }
  }

  /** Forgets a socket's counters when it disconnects. */
  async forgetSocket(socketId: string): Promise<void> {
    await Promise.all(
      [...SOCKET_LIMITS].map((name) => this.limiters[name].delete(socketId)),
    );
  }

  /** Keys held by the in-memory limiters; the churn test expects it back at zero. */
  get memoryEntries(): number {
    let total = 0;
    for (const limiter of this.memoryLimiters) {
      const storage = (
        limiter as unknown as {
          _memoryStorage?: { _storage?: Map<string, unknown> };
        }
      )._memoryStorage?._storage;
      total += storage?.size ?? 0;
    }
    return total;
  }
}
