import type { Redis } from "ioredis";
import type { PreferencesPatch } from "../../protocol/index.js";
import {
  applyPreferencesPatch,
  defaultPreferences,
} from "../../push/preferences.js";
import type { PreferencesStore } from "../types.js";
import type { RedisKeys } from "./keys.js";
import { parsePreferences, replyInteger } from "./records.js";
import type { PushScripts } from "./push-scripts.js";

/**
 * Maximum reads of a user's preferences before update gives up. Each round
 * of concurrent updates lets at least one of them write, so n concurrent
 * updates of one user need at most n attempts.
 */
const MAX_UPDATE_ATTEMPTS = 20;

/** One JSON string per user. A missing key means the defaults. */
export class RedisPreferencesStore implements PreferencesStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: PushScripts,
  ) {}

  async get(userId: string) {
    const json = await this.redis.get(this.keys.preferences(userId));
    return json === null ? defaultPreferences() : parsePreferences(json);
  }

  /**
   * Reads, applies the patch with applyPreferencesPatch, and writes with a
   * compare-and-set script that fails when another update wrote in between,
   * and then reads again. WATCH/MULTI/EXEC would not work here, because the
   * connection is shared and EXEC drops the WATCH of every caller on it.
   * Errors of applyPreferencesPatch, such as too many mutes, reject the
   * update and store nothing.
   */
  async update(userId: string, patch: PreferencesPatch, now: number) {
    const key = this.keys.preferences(userId);
    for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
      const stored = await this.redis.get(key);
      const current =
        stored === null ? defaultPreferences() : parsePreferences(stored);
      const next = applyPreferencesPatch(current, patch, now);
      const written = await this.scripts.compareAndSet(
        [key],
        [stored ?? "", JSON.stringify(next)],
      );
      if (replyInteger(written, "compare and set") === 1) return next;
    }
    throw new Error(
      `Updating the push preferences of user ${userId} failed: other updates wrote first in each of ${MAX_UPDATE_ATTEMPTS} attempts`,
    );
  }
}
