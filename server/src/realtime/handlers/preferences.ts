import type { EventHandlers } from "../handle.js";
import type { SocketContext } from "./context.js";

export function preferenceHandlers({
  chat,
  preferences,
  logger,
}: SocketContext): Pick<
  EventHandlers,
  "preferences:get" | "preferences:update"
> {
  return {
    "preferences:get": async (socket) => ({
      preferences: await preferences.get(socket.data.userId),
    }),

    "preferences:update": async (socket, patch) => {
      const { userId } = socket.data;
      // Muting needs membership, so a user cannot probe which conversation ids exist.
      for (const { conversationId } of patch.mute ?? []) {
        await chat.requireMembership(userId, conversationId);
      }
      const updated = await preferences.update(userId, patch, Date.now());
      logger.info(
        { userId, fields: Object.keys(patch) },
        "preferences updated",
      );
      return { preferences: updated };
    },
  };
}
