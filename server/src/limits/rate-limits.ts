import type { Redis } from "ioredis";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { Config } from "../config.js";
import { AppError } from "../protocol/index.js";
import { FixedWindowCounters } from "./fixed-window.js";

/**
 * Limits per user or API key. The per-user send limit is not here: the
 * message store checks it in the same step as the append.
 */
export type LimitName =
  "apiPerMinute" | "activitiesPerMinute" | "createPerUser";

export type SocketLimitName =
  "sendPerSocket" | "typingPerSocket" | "eventsPerSocket";

/** Window of every per-socket limit, in ms. */
const SOCKET_WINDOW_MS = 10_000;

interface SocketWindow {
  /** Epoch ms at which the current window started. */
  start: number;
  sendPerSocket: number;
  typingPerSocket: number;
  eventsPerSocket: number;
}

const WINDOW_SECONDS: Record<LimitName, number> = {
  apiPerMinute: 60,
  activitiesPerMinute: 60,
  createPerUser: 60,
};

const MESSAGES: Record<LimitName | SocketLimitName, string> = {
  sendPerSocket: "Too many messages from this connection",
  typingPerSocket: "Too many typing updates from this connection",
  eventsPerSocket: "Too many events from this connection",
  apiPerMinute: "Too many requests for this API key",
  activitiesPerMinute: "Too many activity reports for this API key",
  createPerUser: "Too many new conversations from this user",
};

/** Builds the rate_limited error, with the wait in whole seconds in the message and in ms in retryAfterMs. */
export function rateLimited(message: string, retryAfterMs: number): AppError {
  return new AppError(
    "rate_limited",
    `${message}; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
    retryAfterMs,
  );
}

/**
 * Fixed-window rate limits. Per-socket limits are plain counters on the
 * node that the socket is connected to, checked without a promise on every
 * event. Per-user and per-key limits come from rate-limiter-flexible: in
 * Redis in a cluster, so they hold across nodes, with an in-memory limiter
 * standing in while Redis is away.
 */
export class RateLimits {
  /** rate-limiter-flexible limiters backed by Redis; null in a single process. */
  private readonly limiters: Record<LimitName, RateLimiterAbstract | null>;
  private readonly memoryLimiters: RateLimiterMemory[] = [];
  private readonly socketWindows = new Map<string, SocketWindow>();
  /** Counters of each limit by key, used in a single process. */
  private readonly localWindows: Record<LimitName, FixedWindowCounters> = {
    apiPerMinute: new FixedWindowCounters(WINDOW_SECONDS.apiPerMinute * 1000),
    activitiesPerMinute: new FixedWindowCounters(
      WINDOW_SECONDS.activitiesPerMinute * 1000,
    ),
    createPerUser: new FixedWindowCounters(WINDOW_SECONDS.createPerUser * 1000),
  };

  constructor(
    private readonly limits: Config["rateLimits"],
    redis: { client: Redis; prefix: string } | null,
  ) {
    // In a single process `consume` uses local counters, so no limiter is built.
    const build = (name: LimitName): RateLimiterAbstract | null => {
      if (!redis) return null;
      const options = {
        points: limits[name],
        duration: WINDOW_SECONDS[name],
        keyPrefix: `rl-${name}`,
      };
      const memory = new RateLimiterMemory(options);
      this.memoryLimiters.push(memory);
      return new RateLimiterRedis({
        ...options,
        storeClient: redis.client,
        keyPrefix: `${redis.prefix}rl:${name}`,
        insuranceLimiter: memory,
        rejectIfRedisNotReady: true,
      });
    };
    this.limiters = {
      apiPerMinute: build("apiPerMinute"),
      activitiesPerMinute: build("activitiesPerMinute"),
      createPerUser: build("createPerUser"),
    };
  }

  /** Takes `points` from the limit of `key`; throws rate_limited with a retry hint when none are left. */
  async consume(name: LimitName, key: string, points = 1): Promise<void> {
    const limiter = this.limiters[name];
    if (!limiter) {
      this.takeLocal(name, key, points);
      return;
    }
    try {
      await limiter.consume(key, points);
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw rateLimited(MESSAGES[name], error.msBeforeNext);
      }
      throw error;
    }
  }

  /** Takes one point from a per-socket limit; throws rate_limited with a retry hint when none are left. */
  takeForSocket(name: SocketLimitName, socketId: string): void {
    const now = Date.now();
    let window = this.socketWindows.get(socketId);
    if (!window || now - window.start >= SOCKET_WINDOW_MS) {
      window = {
        start: now,
        sendPerSocket: 0,
        typingPerSocket: 0,
        eventsPerSocket: 0,
      };
      this.socketWindows.set(socketId, window);
    }
    window[name] += 1;
    if (window[name] > this.limits[name]) {
      const retryAfterMs = window.start + SOCKET_WINDOW_MS - now;
      throw rateLimited(MESSAGES[name], retryAfterMs);
    }
  }

  /** Single-process path of `consume`: a local fixed-window counter. */
  private takeLocal(name: LimitName, key: string, points: number): void {
    const retryAfterMs = this.localWindows[name].take(
      key,
      points,
      this.limits[name],
      Date.now(),
    );
    if (retryAfterMs > 0) {
      throw rateLimited(MESSAGES[name], retryAfterMs);
    }
  }

  /** Forgets a socket's counters when it disconnects. */
  forgetSocket(socketId: string): void {
    this.socketWindows.delete(socketId);
  }

  /**
   * Counts the counters held in memory after dropping expired windows; the
   * churn test expects it back near zero.
   */
  countEntries(): number {
    const now = Date.now();
    let total = this.socketWindows.size;
    for (const counters of Object.values(this.localWindows)) {
      total += counters.sweep(now);
    }
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
