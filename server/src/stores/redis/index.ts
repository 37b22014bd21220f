import type { Redis } from "ioredis";
import type { SendQuota, Stores } from "../types.js";
import { RedisAttentionStore } from "./attention.js";
import { RedisConversationStore } from "./conversations.js";
import { RedisIdempotencyStore } from "./idempotency.js";
import { redisKeys } from "./keys.js";
import { RedisMessageStore } from "./messages.js";
import { RedisReadStore } from "./reads.js";
import { defineStoreScripts } from "./scripts.js";

export { redisKeys, type RedisKeys } from "./keys.js";
export { nodeSocketMember } from "./attention.js";

const DEFAULT_PING_TIMEOUT_MS = 2000;

export interface RedisStoreOptions {
  /**
   * Connection that the stores send every command on, Lua scripts
   * included. The caller owns it: `close()` leaves it open, so the caller
   * quits it.
   */
  redis: Redis;
  /** Start of every key, such as `chat:` or `chat:{production}:`. keys.ts describes the layout. */
  prefix: string;
  /** Messages kept per conversation; older ones are trimmed. */
  historyLimit: number;
  /** Cap on messages per sender; none when absent. */
  sendQuota?: SendQuota;
  /** How long `ping()` waits for PONG before it rejects, in milliseconds. */
  pingTimeoutMs?: number;
  /** Whether a node still holds its lease; attention entries of dead nodes are ignored. */
  isNodeAlive?: (nodeId: string) => boolean;
}

/** Creates the store set for a cluster of server nodes that share one Redis. */
export function createRedisStores(options: RedisStoreOptions): Stores {
  const { redis, historyLimit } = options;
  const pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
  if (!Number.isSafeInteger(historyLimit) || historyLimit < 1) {
    throw new RangeError(
      `historyLimit must be a positive integer, got ${historyLimit}`,
    );
  }
  if (!(pingTimeoutMs > 0)) {
    throw new RangeError(
      `pingTimeoutMs must be a positive number, got ${pingTimeoutMs}`,
    );
  }

  const keys = redisKeys(options.prefix);
  const scripts = defineStoreScripts(redis);
  return {
    conversations: new RedisConversationStore(redis, keys, scripts),
    messages: new RedisMessageStore(
      redis,
      keys,
      scripts,
      historyLimit,
      options.sendQuota,
    ),
    reads: new RedisReadStore(redis, keys, scripts),
    attention: new RedisAttentionStore(
      redis,
      keys,
      scripts,
      options.isNodeAlive,
    ),
    idempotency: new RedisIdempotencyStore(redis, keys),
    ping: () => ping(redis, pingTimeoutMs),
    // The connection belongs to the caller, so there is nothing to release.
    close: async () => {},
  };
}

/**
 * Sends PING and rejects unless PONG comes back within `timeoutMs`. Without
 * the timeout, ioredis would queue the command while it reconnects and the
 * readiness check would hang.
 */
async function ping(redis: Redis, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `Redis did not respond to PING within ${timeoutMs} ms. Check that Redis is running and reachable.`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    const reply = await Promise.race([redis.ping(), timeout]);
    if (reply !== "PONG") {
      throw new Error(`Redis returned ${reply} to PING instead of PONG`);
    }
  } finally {
    clearTimeout(timer);
  }
}

export { createRedisPushStores, type RedisPushStoreOptions } from "./push.js";
