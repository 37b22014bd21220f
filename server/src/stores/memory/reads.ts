import type { ReadStore } from "../types.js";

export class MemoryReadStore implements ReadStore {
  /** Read seqs by user, then by conversation. */
  private readonly positions = new Map<string, Map<string, number>>();

  async markRead(userId: string, conversationId: string, seq: number) {
    return this.raise(userId, conversationId, seq);
  }

  /** Raises the position without a promise; the message store calls it on append. */
  raise(userId: string, conversationId: string, seq: number): number {
    let byConversation = this.positions.get(userId);
    if (!byConversation) {
      byConversation = new Map();
      this.positions.set(userId, byConversation);
    }
    const current = byConversation.get(conversationId) ?? 0;
    if (seq <= current) return current;
    byConversation.set(conversationId, seq);
    return seq;
  }

  async getReadSeqs(userId: string, conversationIds: string[]) {
    const byConversation = this.positions.get(userId);
    return conversationIds.map((id) => byConversation?.get(id) ?? 0);
  }
}
