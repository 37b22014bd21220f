import { AppError } from "../../protocol/index.js";
import type { EventHandlers } from "../handle.js";
import type { SocketContext } from "./context.js";

export function conversationHandlers({
  chat,
  fanout,
  limits,
  clientConversationCreate,
}: SocketContext): Pick<
  EventHandlers,
  "conversation:create" | "conversation:list" | "conversation:history"
> {
  return {
    "conversation:create": async (socket, { memberIds, title }) => {
      const { userId } = socket.data;
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

    "conversation:list": async (socket, page) =>
      chat.listConversations(socket.data.userId, page),

    "conversation:history": async (socket, query) =>
      chat.history(socket.data.userId, query),
  };
}
