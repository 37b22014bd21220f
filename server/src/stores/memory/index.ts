import type { SendQuota, Stores } from "../types.js";
import { MemoryAttentionStore } from "./attention.js";
import { MemoryConversationStore } from "./conversations.js";
import { MemoryIdempotencyStore } from "./idempotency.js";
import { MemoryMessageStore } from "./messages.js";
import { MemoryReadStore } from "./reads.js";

export interface MemoryStoreOptions {
  historyLimit: number;
  /** Cap on messages per sender; none when absent. */
  sendQuota?: SendQuota;
}

/** Creates the single-process store set; state lives as long as the process. */
export function createMemoryStores(options: MemoryStoreOptions): Stores {
  const reads = new MemoryReadStore();
  return {
    conversations: new MemoryConversationStore(),
    messages: new MemoryMessageStore(
      options.historyLimit,
      reads,
      options.sendQuota,
    ),
    reads,
    attention: new MemoryAttentionStore(),
    idempotency: new MemoryIdempotencyStore(),
    ping: async () => {},
    close: async () => {},
  };
}
