import type { Redis } from "ioredis";
import type { Conversation, ConversationStore } from "../types.js";
import type { RedisKeys } from "./keys.js";
import { parseConversation, replyInteger, replyTuple } from "./records.js";
import type { StoreScripts } from "./scripts.js";

export class RedisConversationStore implements ConversationStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: StoreScripts,
  ) {}

  /** Creates the conversation and indexes it for every member in one atomic script. */
  async create(conversation: Conversation) {
    const reply = replyTuple(
      await this.scripts.createConversation(
        [
          this.keys.conversation(conversation.id),
          this.keys.conversationCounter(),
          ...conversation.memberIds.map((userId) =>
            this.keys.userConversations(userId),
          ),
        ],
        [JSON.stringify(conversation), conversation.id],
      ),
      2,
      "create conversation",
    );
    const created = replyInteger(reply[0], "create conversation") === 1;
    if (created) return { conversation, created };
    return { conversation: parseConversation(reply[1]), created };
  }

  async get(id: string) {
    const json = await this.redis.get(this.keys.conversation(id));
    return json === null ? null : parseConversation(json);
  }

  async listIdsForUser(userId: string) {
    return this.redis.zrevrange(this.keys.userConversations(userId), 0, -1);
  }
}
