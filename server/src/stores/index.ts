import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { NodeMembership } from "../cluster/membership.js";
import { NodeBus } from "../cluster/node-bus.js";
import type { Config } from "../config.js";
import type { Logger } from "../observability/logger.js";
import { createMemoryStores } from "./memory/index.js";
import { createMemoryPushStores } from "./memory/push.js";
import { createRedisStores, redisKeys } from "./redis/index.js";
import { createRedisPushStores } from "./redis/push.js";
import type { PushStores, SendQuota, Stores } from "./types.js";

/** Everything that depends on where state lives: the stores, and in a cluster the adapter and membership. */
export interface Backend {
  mode: "memory" | "redis";
  stores: Stores;
  pushStores: PushStores;
  /** Socket.IO adapter that carries broadcasts between nodes; undefined in memory mode. */
  adapter?: ReturnType<typeof createAdapter>;
  membership: NodeMembership | null;
  /** Node-to-node delivery requests; null in memory mode. */
  bus: NodeBus | null;
  /** Redis connection and key prefix for cluster-wide rate limits; null in memory mode. */
  rateLimitStore: { client: Redis; prefix: string } | null;
  /** Closes what the backend opened; stores must be closed first. */
  close(): Promise<void>;
}

/** Minimum time in ms between two log lines for the same Redis connection error. */
const ERROR_LOG_INTERVAL_MS = 5000;

/** RATE_SEND_PER_USER applies per 10 s window. */
const SEND_QUOTA_WINDOW_MS = 10_000;

function sendQuotaOf(config: Config): SendQuota {
  return {
    limit: config.rateLimits.sendPerUser,
    windowMs: SEND_QUOTA_WINDOW_MS,
  };
}

/**
 * Picks the store implementations for the config: memory without
 * REDIS_URL, Redis with it. No other module depends on which is in use.
 */
export async function createBackend(
  config: Config,
  logger: Logger,
  nodeId: string,
): Promise<Backend> {
  if (!config.redis) {
    return {
      mode: "memory",
      stores: createMemoryStores({
        historyLimit: config.limits.historyLimit,
        sendQuota: sendQuotaOf(config),
      }),
      pushStores: createMemoryPushStores({
        decisionLogLimit: config.push.decisionLogLimit,
      }),
      membership: null,
      bus: null,
      rateLimitStore: null,
      close: async () => {},
    };
  }

  const { url, prefix, heartbeatMs, leaseMs } = config.redis;
  const log = logger.child({ module: "redis" });
  // Commands fail at once while Redis is away (no offline queue), so a send
  // is answered `unavailable` and the client resends, instead of hanging.
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Commands issued in one event-loop tick go out in one write.
    enableAutoPipelining: true,
    connectionName: `chat-${nodeId}`,
  });
  const publisher = redis.duplicate();
  const subscriber = redis.duplicate({
    enableOfflineQueue: true,
    enableAutoPipelining: false,
  });
  const inbox = redis.duplicate({
    enableOfflineQueue: true,
    enableAutoPipelining: false,
  });
  const connections = [redis, publisher, subscriber, inbox];
  for (const [index, connection] of connections.entries()) {
    watchConnection(
      connection,
      ["commands", "publish", "subscribe", "inbox"][index]!,
      log,
    );
  }
  try {
    await Promise.all(connections.map((connection) => connection.connect()));
  } catch (error) {
    connections.forEach((connection) => connection.disconnect());
    throw new Error(
      `Cannot connect to Redis at REDIS_URL (${redactUrl(url)}): ${(error as Error).message}`,
    );
  }

  const keys = redisKeys(prefix);
  const membership = new NodeMembership(
    redis,
    keys,
    { nodeId, heartbeatMs, leaseMs },
    logger.child({ module: "membership" }),
  );
  const stores = createRedisStores({
    redis,
    prefix,
    historyLimit: config.limits.historyLimit,
    sendQuota: sendQuotaOf(config),
    isNodeAlive: membership.isAlive,
  });
  const pushStores = createRedisPushStores({
    redis,
    prefix,
    decisionLogLimit: config.push.decisionLogLimit,
    nodeId,
    onError: rateLimited(ERROR_LOG_INTERVAL_MS, (error: Error) =>
      log.warn({ reason: error.message }, "push queue operation failed"),
    ),
  });
  const adapter = createAdapter(publisher, subscriber, {
    // Channels start with the deployment's prefix, so two deployments on one Redis stay apart.
    key: `${prefix}socket.io`,
    requestsTimeout: 5000,
  });

  return {
    mode: "redis",
    stores,
    pushStores,
    adapter,
    membership,
    bus: new NodeBus(
      redis,
      inbox,
      keys,
      nodeId,
      logger.child({ module: "node-bus" }),
    ),
    rateLimitStore: { client: redis, prefix },
    close: async () => {
      await Promise.all(
        connections.map((connection) =>
          connection.quit().catch(() => connection.disconnect()),
        ),
      );
    },
  };
}

/** Logs connection errors of one client, at most once per interval per message. */
function watchConnection(connection: Redis, role: string, logger: Logger) {
  connection.on(
    "error",
    rateLimited(ERROR_LOG_INTERVAL_MS, (error) =>
      logger.warn({ role, reason: error.message }, "Redis connection error"),
    ),
  );
  connection.on("reconnecting", () =>
    logger.info({ role }, "reconnecting to Redis"),
  );
  connection.on("ready", () => logger.info({ role }, "Redis connection ready"));
}

/** Returns the URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}

/** Calls `log` at most once per interval for each distinct error message. */
function rateLimited(
  intervalMs: number,
  log: (error: Error) => void,
): (error: unknown) => void {
  const lastLogged = new Map<string, number>();
  return (error) => {
    const err = error instanceof Error ? error : new Error(String(error));
    const now = Date.now();
    if (now - (lastLogged.get(err.message) ?? 0) < intervalMs) return;
    if (lastLogged.size > 100) lastLogged.clear();
    lastLogged.set(err.message, now);
    log(err);
  };
}
