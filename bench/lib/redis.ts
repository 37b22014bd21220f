import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** Throws unless the URL points at this machine; the bench never loads another host. */
export function assertLoopbackRedis(url: string): void {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  const loopback =
    host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback) {
    throw new Error(
      `--redis-url must point at this machine (127.0.0.1, localhost or ::1), got ${host}`,
    );
  }
}

/** Prefixes in use, by Redis URL, so an interrupted run can still delete their keys. */
const activePrefixes = new Map<string, string>();

/**
 * Returns a key prefix of its own for one run, such as `bench:3f9a1c2b:`,
 * so its keys can be deleted without touching others. `releasePrefix`
 * deletes them.
 */
export function claimPrefix(url: string): string {
  const prefix = `bench:${randomBytes(4).toString("hex")}:`;
  activePrefixes.set(prefix, url);
  return prefix;
}

/** Deletes the keys of a prefix from `claimPrefix` and removes it from the active prefixes. */
export async function releasePrefix(prefix: string): Promise<number> {
  const url = activePrefixes.get(prefix);
  if (url === undefined) return 0;
  const deleted = await deletePrefix(url, prefix);
  activePrefixes.delete(prefix);
  return deleted;
}

/** Deletes the keys of every prefix still in use; for shutdown after an error or a signal. */
export async function releaseAllPrefixes(): Promise<void> {
  await Promise.all(
    [...activePrefixes.keys()].map((prefix) => releasePrefix(prefix)),
  );
}

/** Returns Redis's version when it replies to PING within 2 s, or null. */
export async function probeRedis(url: string): Promise<string | null> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    await redis.ping();
    const info = await redis.info("server");
    return /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

/**
 * Deletes every key that starts with `prefix`, found with SCAN, and
 * returns how many were deleted. The prefix must look like
 * `claimPrefix()`'s, so a mistake cannot empty someone else's keys.
 */
async function deletePrefix(url: string, prefix: string): Promise<number> {
  if (!/^bench:[0-9a-f]{8}:$/.test(prefix)) {
    throw new Error(`refusing to delete keys of the prefix ${prefix}`);
  }
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  let deleted = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(
        cursor,
        "MATCH",
        `${prefix}*`,
        "COUNT",
        1000,
      );
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return deleted;
}
