import type { Conversation } from "../../stores/types.js";
import type { EventHandlers } from "../handle.js";
import type { SocketContext } from "./context.js";

interface ActiveTyping {
  userId: string;
  conversation: Pick<Conversation, "id" | "memberIds">;
  timer: NodeJS.Timeout;
  /** Epoch ms of the last broadcast of isTyping true. */
  sentAt: number;
}

/**
 * Relays typing state. A socket types in at most one conversation at a time.
 * The server ends the state itself after `typingTtlMs` without a refresh, on
 * a switch to another conversation, and when the socket disconnects.
 * Refreshes within half the TTL are not rebroadcast.
 */
export class TypingRelay {
  /** Socket id to what it is typing in. */
  private readonly active = new Map<string, ActiveTyping>();

  constructor(private readonly context: SocketContext) {}

  handlers(): Pick<EventHandlers, "typing"> {
    const { chat, fanout, limits, typingTtlMs } = this.context;
    return {
      typing: async (socket, { conversationId, isTyping }) => {
        limits.takeForSocket("typingPerSocket", socket.id);
        const { userId } = socket.data;
        const conversation = await chat.requireMembership(
          userId,
          conversationId,
        );
        const current = this.active.get(socket.id);
        if (!isTyping) {
          if (current?.conversation.id === conversationId) this.stop(socket.id);
          return;
        }
        if (current && current.conversation.id !== conversationId) {
          this.stop(socket.id);
        }
        const now = Date.now();
        const running = this.active.get(socket.id);
        if (running) {
          running.timer.refresh();
          if (now - running.sentAt < typingTtlMs / 2) return;
          running.sentAt = now;
        } else {
          const socketId = socket.id;
          this.active.set(socketId, {
            userId,
            conversation,
            timer: setTimeout(() => this.stop(socketId), typingTtlMs),
            sentAt: now,
          });
        }
        fanout.typing(conversation, userId, true, typingTtlMs);
      },
    };
  }

  /** Ends the socket's typing state, if any, and notifies the other members. */
  stop(socketId: string): void {
    const typing = this.active.get(socketId);
    if (!typing) return;
    clearTimeout(typing.timer);
    this.active.delete(socketId);
    this.context.fanout.typing(
      typing.conversation,
      typing.userId,
      false,
      this.context.typingTtlMs,
    );
  }

  /** Sockets that are typing; zero when idle. */
  get size(): number {
    return this.active.size;
  }
}
