import { handleEvent } from "../handle.js";
import type { ChatSocket } from "../types.js";
import type { SocketContext } from "./context.js";

export function registerConversationHandlers(
  socket: ChatSocket,
  { chat, fanout, logger }: SocketContext,
): void {
  const { userId } = socket.data;

  handleEvent(
    socket,
    "conversation:create",
    logger,
    async ({ memberIds, title }) => {
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

  handleEvent(socket, "conversation:list", logger, async () => {
    return { conversations: await chat.listConversations(userId) };
  });

  handleEvent(socket, "conversation:history", logger, async (query) => {
    return chat.history(userId, query);
  });
}
