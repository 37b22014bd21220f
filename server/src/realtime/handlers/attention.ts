import { AppError } from "../../protocol/index.js";
import type { AttentionPatch } from "../../stores/types.js";
import type { EventHandlers } from "../handle.js";
import type { ChatSocket } from "../types.js";
import type { SocketContext } from "./context.js";

export function attentionHandlers({
  chat,
  attention,
}: SocketContext): Pick<
  EventHandlers,
  "app:state" | "conversation:open" | "conversation:close"
> {
  const update = async (socket: ChatSocket, patch: AttentionPatch) => {
    const device = await attention.update(socket.data.userId, socket.id, patch);
    if (!device) {
      throw new AppError(
        "unavailable",
        "Socket is disconnecting; reconnect and try again",
      );
    }
  };

  // Every event from the device shows it is alive, so it also clears a missed ack.
  return {
    "app:state": async (socket, { state }) => {
      await update(socket, { appState: state, ackMissedAt: null });
    },

    "conversation:open": async (socket, { conversationId }) => {
      await chat.requireMembership(socket.data.userId, conversationId);
      await update(socket, {
        openConversationId: conversationId,
        ackMissedAt: null,
      });
    },

    "conversation:close": async (socket, { conversationId }) => {
      await attention.closeConversation(
        socket.data.userId,
        socket.id,
        conversationId,
      );
    },
  };
}
