import type { EventHandlers } from "../handle.js";
import type { SocketContext } from "./context.js";

export function messageHandlers({
  chat,
  attention,
  fanout,
  delivery,
  push,
  metrics,
  limits,
  logger,
}: SocketContext): Pick<EventHandlers, "message:send" | "message:read"> {
  return {
    "message:send": async (socket, payload) => {
      const { userId, name } = socket.data;
      limits.takeForSocket("sendPerSocket", socket.id);
      const { conversation, message, duplicate } = await chat.sendMessage(
        { userId, name },
        payload,
      );
      if (duplicate) {
        logger.debug(
          {
            userId,
            conversationId: conversation.id,
            messageId: message.id,
            clientMessageId: message.clientMessageId,
          },
          "duplicate send answered with the original",
        );
      } else {
        metrics.messagesSent.inc();
        await delivery.deliver(conversation, message, socket);
      }
      return {
        id: message.id,
        seq: message.seq,
        createdAt: message.createdAt,
        duplicate,
      };
    },

    "message:read": async (socket, { conversationId, seq }) => {
      const { userId } = socket.data;
      const { conversation, readSeq, advanced } = await chat.markRead(
        userId,
        conversationId,
        seq,
      );
      if (advanced) {
        fanout.readReceipt(conversation, userId, readSeq, socket);
        await push.onRead(userId, conversationId, readSeq);
      }
      await attention.markResponsive(userId, socket.id);
      return { readSeq };
    },
  };
}
