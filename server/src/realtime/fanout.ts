import type { ChatService } from "../chat/service.js";
import type { ActivityView } from "../protocol/index.js";
import type { Conversation } from "../stores/types.js";
import { type ChatServer, type ChatSocket, userRoom } from "./types.js";

/**
 * Server-to-client broadcasts. Each broadcast names every target room at
 * once, so the packet is encoded once and a socket in several rooms gets it
 * once.
 */
export class Fanout {
  constructor(
    private readonly io: ChatServer,
    private readonly chat: ChatService,
  ) {}

  readReceipt(
    conversation: Conversation,
    userId: string,
    seq: number,
    origin?: ChatSocket,
  ): void {
    const rooms = conversation.memberIds.map(userRoom);
    const target = origin ? origin.to(rooms) : this.io.to(rooms);
    target.emit("message:read", {
      conversationId: conversation.id,
      userId,
      seq,
    });
  }

  /** Sends `typing` to the other members; the typist's own devices do not need it. */
  typing(
    conversation: Pick<Conversation, "id" | "memberIds">,
    userId: string,
    isTyping: boolean,
    ttlMs: number,
  ): void {
    const rooms = conversation.memberIds
      .filter((id) => id !== userId)
      .map(userRoom);
    if (rooms.length === 0) return;
    this.io.to(rooms).emit("typing", {
      conversationId: conversation.id,
      userId,
      isTyping,
      ttlMs,
    });
  }

  /**
   * Tells every device of every member about a new conversation, each member
   * with their own view of it. The creating socket learns it from its ack.
   */
  async conversationCreated(
    conversation: Conversation,
    origin?: ChatSocket,
  ): Promise<void> {
    await Promise.all(
      conversation.memberIds.map(async (memberId) => {
        const [view] = await this.chat.viewsFor(memberId, [conversation]);
        const room = userRoom(memberId);
        const target = origin ? origin.to(room) : this.io.to(room);
        target.emit("conversation:new", view!);
      }),
    );
  }

  /** Sends an activity to every connected device of its recipient. */
  activity(recipientId: string, activity: ActivityView): void {
    this.io.to(userRoom(recipientId)).emit("activity:new", activity);
  }

  presence(contacts: string[], userId: string, online: boolean): void {
    if (contacts.length === 0) return;
    this.io.to(contacts.map(userRoom)).emit("presence", { userId, online });
  }
}
