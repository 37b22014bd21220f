import type { ReadStore } from "../types.js";

export class MemoryReadStore implements ReadStore {
  /** `userId \0 conversationId` to read seq. */
  private readonly positions = new Map<string, number>();

  async markRead(userId: string, conversationId: string, seq: number) {
    return this.raise(userId, conversationId, seq);
  }

  /** Raises the position without a promise; the message store calls it on append. */
  raise(userId: string, conversationId: string, seq: number): number {
    const key = `${userId}\u0000${conversationId}`;
    const current = this.positions.get(key) ?? 0;
    if (seq <= current) return current;
    this.positions.set(key, seq);
    return seq;
  }

  async getReadSeqs(userId: string, conversationIds: string[]) {
    return conversationIds.map(
      (id) => this.positions.get(`${userId}\u0000${id}`) ?? 0,
    );
  }
}
