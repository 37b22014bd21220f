import type { Stores } from "../types.js";
import { MemoryAttentionStore } from "./attention.js";
import { MemoryConversationStore } from "./conversations.js";
import { MemoryIdempotencyStore } from "./idempotency.js";
import { MemoryMessageStore } from "./messages.js";
import { MemoryReadStore } from "./reads.js";

export interface MemoryStoreOptions {
  historyLimit: number;
}

/** Creates the single-process store set; state lives as long as the process. */
export function createMemoryStores(options: MemoryStoreOptions): Stores {
  return {
    conversations: new MemoryConversationStore(),
    messages: new MemoryMessageStore(options.historyLimit),
    reads: new MemoryReadStore(),
    attention: new MemoryAttentionStore(),
    idempotency: new MemoryIdempotencyStore(),
    ping: async () => {},
    close: async () => {},
  };
}
