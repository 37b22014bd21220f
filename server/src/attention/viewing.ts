import type { DeviceAttention } from "../stores/types.js";

/**
 * A device is viewing a conversation when its socket is connected (it has an
 * entry at all), its app is in the foreground and not idle, and the
 * conversation is the one it shows on screen.
 */
export function isViewing(
  device: DeviceAttention,
  conversationId: string,
): boolean {
  return (
    device.appState === "foreground" &&
    device.openConversationId === conversationId
  );
}
