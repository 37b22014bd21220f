import type { DeviceAttention } from "../stores/types.js";

/**
 * Returns whether the device is viewing the conversation. Its socket is
 * connected, because it has an entry at all. It must also be in the
 * foreground (not idle), show this conversation on screen, and have missed
 * no ack since its last event.
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
