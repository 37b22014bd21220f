import { AppError } from "../../protocol/index.js";
import { handleEvent } from "../handle.js";
import type { ChatSocket } from "../types.js";
import type { SocketContext } from "./context.js";

export function registerAttentionHandlers(
  socket: ChatSocket,
  { chat, attention, logger }: SocketContext,
): void {
  const { userId } = socket.data;

  const update = async (patch: Parameters<typeof attention.update>[2]) => {
    const device = await attention.update(userId, socket.id, patch);
    if (!device)
      throw new AppError(
        "unavailable",
        "Socket is disconnecting; reconnect and try again",
      );
    return device;
  };

  // Every event from the device shows it is alive, so it also clears a missed ack.
  handleEvent(socket, "app:state", logger, async ({ state }) => {
    await update({ appState: state, ackMissedAt: null });
  });

  handleEvent(
    socket,
    "conversation:open",
    logger,
    async ({ conversationId }) => {
      await chat.requireMembership(userId, conversationId);
      await update({ openConversationId: conversationId, ackMissedAt: null });
    },
  );

  handleEvent(
    socket,
    "conversation:close",
    logger,
    async ({ conversationId }) => {
      await attention.closeConversation(userId, socket.id, conversationId);
    },
  );
}
