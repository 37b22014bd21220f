import type { Redis } from "ioredis";
import type { IdempotencyStore } from "../types.js";
import type { RedisKeys } from "./keys.js";

export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Claims the key with one SET NX PX, so two nodes claiming it at once get one true. */
  async claim(key: string, ttlMs: number) {
    const reply = await this.redis.set(
      this.keys.idempotency(key),
      "1",
      "PX",
      Math.max(1, Math.round(ttlMs)),
      "NX",
    );
    return reply === "OK";
  }
}
