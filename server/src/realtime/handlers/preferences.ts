import { handleEvent } from "../handle.js";
import type { ChatSocket } from "../types.js";
import type { SocketContext } from "./context.js";

export function registerPreferenceHandlers(
  socket: ChatSocket,
  { chat, preferences, logger }: SocketContext,
): void {
  const { userId } = socket.data;

  handleEvent(socket, "preferences:get", logger, async () => {
    return { preferences: await preferences.get(userId) };
  });

  handleEvent(socket, "preferences:update", logger, async (patch) => {
    // Muting needs membership, so a user cannot probe which conversation ids exist.
    for (const { conversationId } of patch.mute ?? []) {
      await chat.requireMembership(userId, conversationId);
    }
    const updated = await preferences.update(userId, patch, Date.now());
    logger.info({ userId, fields: Object.keys(patch) }, "preferences updated");
    return { preferences: updated };
  });
}
