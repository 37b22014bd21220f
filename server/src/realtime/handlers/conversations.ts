import { AppError } from "../../protocol/index.js";
import { handleEvent } from "../handle.js";
import type { ChatSocket } from "../types.js";
import type { SocketContext } from "./context.js";

export function registerConversationHandlers(
  socket: ChatSocket,
  { chat, fanout, limits, logger, clientConversationCreate }: SocketContext,
): void {
  const { userId } = socket.data;

  handleEvent(
    socket,
    "conversation:create",
    logger,
    async ({ memberIds, title }) => {
      if (!clientConversationCreate) {
        throw new AppError(
          "forbidden",
          "Conversations are created by the app's backend on this server",
        );
      }
      await limits.consume("createPerUser", userId);
      const { conversation, created } = await chat.createConversation(
        userId,
        memberIds,
        title,
      );
      if (created) await fanout.conversationCreated(conversation, socket);
      const [view] = await chat.viewsFor(userId, [conversation]);
      return { conversation: view!, created };
    },
  );

  handleEvent(socket, "conversation:list", logger, async (page) => {
    return chat.listConversations(userId, page);
  });

  handleEvent(socket, "conversation:history", logger, async (query) => {
    return chat.history(userId, query);
  });
}
