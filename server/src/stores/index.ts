import type { Config } from "../config.js";
import { createMemoryStores } from "./memory/index.js";
import { createMemoryPushStores } from "./memory/push.js";
import type { PushStores, Stores } from "./types.js";

/** Picks the store implementations for the config; the only place that knows which are in use. */
export function createStoresFor(config: Config): {
  stores: Stores;
  pushStores: PushStores;
} {
  return {
    stores: createMemoryStores({ historyLimit: config.limits.historyLimit }),
    pushStores: createMemoryPushStores({
      decisionLogLimit: config.push.decisionLogLimit,
    }),
  };
}
