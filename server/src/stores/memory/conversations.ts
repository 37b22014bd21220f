import type { Conversation, ConversationStore } from "../types.js";

export class MemoryConversationStore implements ConversationStore {
  private readonly byId = new Map<string, Conversation>();
  /** Conversation ids per user, oldest first. */
  private readonly byUser = new Map<string, string[]>();

  async create(conversation: Conversation) {
    const existing = this.byId.get(conversation.id);
    if (existing) return { conversation: existing, created: false };

    this.byId.set(conversation.id, conversation);
    for (const userId of conversation.memberIds) {
      const ids = this.byUser.get(userId);
      if (ids) ids.push(conversation.id);
      else this.byUser.set(userId, [conversation.id]);
    }
    return { conversation, created: true };
  }

  async get(id: string) {
    return this.byId.get(id) ?? null;
  }

  async listIdsForUser(userId: string) {
    return [...(this.byUser.get(userId) ?? [])].reverse();
  }
}
