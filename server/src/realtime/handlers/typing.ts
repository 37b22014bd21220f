import { handleEvent } from "../handle.js";
import type { ChatSocket } from "../types.js";
import type { SocketContext } from "./context.js";

/**
 * Relays typing state. A socket types in at most one conversation at a time.
 * The server ends the state itself after `typingTtlMs` without a refresh, on
 * a switch to another conversation, and when the socket disconnects.
 * Refreshes within half the TTL are not rebroadcast.
 */
export function registerTypingHandlers(
  socket: ChatSocket,
  { chat, fanout, limits, logger, typingTtlMs }: SocketContext,
): void {
  const { userId } = socket.data;
  let active: {
    conversationId: string;
    memberIds: string[];
    timer: NodeJS.Timeout;
    sentAt: number;
  } | null = null;

  const stop = () => {
    if (!active) return;
    clearTimeout(active.timer);
    const { conversationId, memberIds } = active;
    active = null;
    fanout.typing(
      { id: conversationId, memberIds },
      userId,
      false,
      typingTtlMs,
    );
  };

  handleEvent(
    socket,
    "typing",
    logger,
    async ({ conversationId, isTyping }) => {
      limits.takeForSocket("typingPerSocket", socket.id);
      const conversation = await chat.requireMembership(userId, conversationId);
      if (!isTyping) {
        if (active?.conversationId === conversationId) stop();
        return;
      }
      if (active && active.conversationId !== conversationId) stop();

      const now = Date.now();
      if (active) {
        active.timer.refresh();
        if (now - active.sentAt < typingTtlMs / 2) return;
        active.sentAt = now;
      } else {
        active = {
          conversationId,
          memberIds: conversation.memberIds,
          timer: setTimeout(stop, typingTtlMs),
          sentAt: now,
        };
      }
      fanout.typing(conversation, userId, true, typingTtlMs);
    },
  );

  socket.on("disconnecting", stop);
}
