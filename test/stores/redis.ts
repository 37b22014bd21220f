import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

/** URL of the Redis that the store tests use, which must run on this machine. */
export const REDIS_TEST_URL =
  process.env.REDIS_TEST_URL ?? "redis://127.0.0.1:6379";

/** Opens a connection that fails a command after one retry instead of queueing it for long. */
export function connectTestRedis(): Redis {
  return new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: 1 });
}

/** Returns a fresh key prefix, so tests that run at the same time never share keys. */
export function randomPrefix(): string {
  return `test:${randomBytes(8).toString("hex")}:`;
}

/** Upper bound on SCAN calls per listing, so a broken cursor cannot loop forever. */
const MAX_SCAN_CALLS = 10_000;

/** Lists every key that starts with `prefix`, with SCAN, sorted. */
export async function keysWithPrefix(
  redis: Redis,
  prefix: string,
): Promise<string[]> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
  const found = new Set<string>();
  let cursor = "0";
  for (let call = 0; call < MAX_SCAN_CALLS; call++) {
    const [next, keys] = await redis.scan(
      cursor,
      "MATCH",
      pattern,
      "COUNT",
      500,
    );
    for (const key of keys) found.add(key);
    cursor = next;
    if (cursor === "0") return [...found].sort();
  }
  throw new Error(
    `SCAN for ${pattern} did not finish within ${MAX_SCAN_CALLS} calls`,
  );
}

/** Deletes every key that starts with `prefix`; returns how many were deleted. */
export async function deleteKeysWithPrefix(
  redis: Redis,
  prefix: string,
): Promise<number> {
  const keys = await keysWithPrefix(redis, prefix);
  return keys.length === 0 ? 0 : redis.del(...keys);
}
