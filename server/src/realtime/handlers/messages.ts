import { handleEvent } from "../handle.js";
import type { ChatSocket } from "../types.js";
import type { SocketContext } from "./context.js";

export function registerMessageHandlers(
  socket: ChatSocket,
  { chat, fanout, logger }: SocketContext,
): void {
  const { userId, name } = socket.data;

  handleEvent(socket, "message:send", logger, async (payload) => {
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
      fanout.message(conversation, message, socket);
    }
    return {
      id: message.id,
      seq: message.seq,
      createdAt: message.createdAt,
      duplicate,
    };
  });

  handleEvent(
    socket,
    "message:read",
    logger,
    async ({ conversationId, seq }) => {
      const { conversation, readSeq, advanced } = await chat.markRead(
        userId,
        conversationId,
        seq,
      );
      if (advanced) fanout.readReceipt(conversation, userId, readSeq, socket);
      return { readSeq };
    },
  );
}
