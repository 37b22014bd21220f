import type { DeviceAttention } from "../stores/types.js";

/**
 * A device is viewing a conversation when its socket is connected (it has an
 * entry at all), its app is in the foreground and not idle, the
 * conversation is the one it shows on screen, and it has not missed an ack
 * since its last event.
 */
export function isViewing(
  device: DeviceAttention,
  conversationId: string,
): boolean {
  return (
    device.appState === "foreground" &&
    device.openConversationId === conversationId &&
    device.ackMissedAt === null
  );
}
