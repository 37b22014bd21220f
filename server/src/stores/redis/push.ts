import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { PushStores } from "../types.js";
import { RedisPushBudget } from "./budget.js";
import { RedisDecisionLog } from "./decisions.js";
import { redisKeys } from "./keys.js";
import { RedisPreferencesStore } from "./preferences.js";
import { RedisPushQueue } from "./push-queue.js";
import { definePushScripts } from "./push-scripts.js";

const DEFAULT_POLL_INTERVAL_MS = 50;
const DEFAULT_LEASE_MS = 30_000;

export interface RedisPushStoreOptions {
  /**
   * Connection for every command, Lua scripts included. The caller owns
   * it: `queue.close()` leaves it open. The queue's claims and releases
   * share it with the other stores.
   */
  redis: Redis;
  /** Start of every key, as for createRedisStores. keys.ts describes the layout. */
  prefix: string;
  /** Decisions kept per user. Older ones are trimmed. */
  decisionLogLimit: number;
  /** Time in ms between queue polls for due batches, so pushes fire up to this late. Default 50. */
  pollIntervalMs?: number;
  /**
   * Lease in ms of a claimed batch. Its node renews it every leaseMs / 3
   * while the handler runs, so it runs out only when the node dies, closes
   * or stalls this long, and then another node hands the batch out again.
   * Default 30 000.
   */
  leaseMs?: number;
  /** Start of this node's claim ids in Redis, for debugging. Default a random UUID. */
  nodeId?: string;
  /** Receives errors that the queue catches while polling, handling and releasing, for logging. */
  onError?: (error: unknown) => void;
}

/** Creates the push stores for a cluster of server nodes that share one Redis. */
export function createRedisPushStores(
  options: RedisPushStoreOptions,
): PushStores {
  const { redis, decisionLogLimit } = options;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const nodeId = options.nodeId ?? randomUUID();
  if (!Number.isSafeInteger(decisionLogLimit) || decisionLogLimit < 1) {
    throw new RangeError(
      `decisionLogLimit must be a positive integer, got ${decisionLogLimit}`,
    );
  }
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs <= 0) {
    throw new RangeError(
      `pollIntervalMs must be a positive number, got ${pollIntervalMs}`,
    );
  }
  if (!Number.isSafeInteger(leaseMs) || leaseMs < 1) {
    throw new RangeError(`leaseMs must be a positive integer, got ${leaseMs}`);
  }
  if (nodeId.length === 0) {
    throw new RangeError("nodeId must not be empty");
  }

  const keys = redisKeys(options.prefix);
  const scripts = definePushScripts(redis);
  return {
    preferences: new RedisPreferencesStore(redis, keys, scripts),
    decisions: new RedisDecisionLog(redis, keys, decisionLogLimit),
    queue: new RedisPushQueue(redis, keys, scripts, {
      pollIntervalMs,
      leaseMs,
      nodeId,
      onError: options.onError,
    }),
    budget: new RedisPushBudget(keys, scripts),
  };
}
