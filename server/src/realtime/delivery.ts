import type { AttentionService } from "../attention/service.js";
import { isViewing } from "../attention/viewing.js";
import type { Conversation, DeviceAttention } from "../stores/types.js";
import type { Logger } from "../observability/logger.js";
import type { ChatMessage } from "../protocol/index.js";
import type { PushService } from "../push/service.js";
import { type ChatServer, type ChatSocket, userRoom } from "./types.js";

/**
 * Fans a new message out to every member's devices and hands the push
 * decision to the push service. Devices that are viewing the conversation
 * get the message with an ack request. When one of them acks within
 * `ackTimeoutMs`, the recipient has seen it. Otherwise (half-dead socket,
 * frozen app) the message goes to the push batch like for any recipient
 * who is not viewing.
 */
export class MessageDelivery {
  constructor(
    private readonly io: ChatServer,
    private readonly attention: AttentionService,
    private readonly push: PushService,
    private readonly ackTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  async deliver(
    conversation: Conversation,
    message: ChatMessage,
    origin?: ChatSocket,
  ): Promise<void> {
    const recipients = conversation.memberIds.filter(
      (memberId) => memberId !== message.senderId,
    );
    const devices = await this.lookUpDevices(conversation, message);
    const rooms = conversation.memberIds.map(userRoom);
    if (!devices) {
      // Without attention data, everyone gets the broadcast and every
      // recipient a push batch, which is checked again when it is due.
      (origin ? origin.to(rooms) : this.io.to(rooms)).emit(
        "message:new",
        message,
      );
      for (const recipientId of recipients)
        this.schedulePush(recipientId, message);
      return;
    }

    const viewers = new Map<string, DeviceAttention[]>();
    const viewerSockets: string[] = [];
    let otherDevices = 0;
    let remote = false;
    for (const [userId, list] of devices) {
      for (const device of list) {
        if (device.socketId === origin?.id) continue;
        if (userId !== message.senderId && isViewing(device, conversation.id)) {
          viewers.set(userId, [...(viewers.get(userId) ?? []), device]);
          viewerSockets.push(device.socketId);
          continue;
        }
        otherDevices++;
        if (device.nodeId !== this.attention.nodeId) remote = true;
      }
    }

    // One broadcast, encoded once, to every device that is not a viewer.
    // When all of them are on this node it skips the adapter, so nothing is
    // published to the other nodes. A device that connects meanwhile on
    // another node fetches the message with its resync.
    if (otherDevices > 0) {
      let broadcast = origin ? origin.to(rooms) : this.io.to(rooms);
      if (viewerSockets.length > 0) broadcast = broadcast.except(viewerSockets);
      if (!remote) broadcast = broadcast.local;
      broadcast.emit("message:new", message);
    }

    for (const recipientId of recipients) {
      const viewing = viewers.get(recipientId);
      if (viewing) this.awaitViewerAck(recipientId, viewing, message);
      else this.schedulePush(recipientId, message);
    }
  }

  /**
   * Reads the live devices of every member, or returns null when the
   * attention store fails, so delivery falls back to a plain broadcast.
   */
  private async lookUpDevices(
    conversation: Conversation,
    message: ChatMessage,
  ): Promise<Map<string, DeviceAttention[]> | null> {
    try {
      return await this.attention.listDevicesOf(conversation.memberIds);
    } catch (error) {
      this.logger.error(
        { err: error, conversationId: conversation.id, messageId: message.id },
        "looking up devices failed; broadcasting to all and scheduling every push",
      );
      return null;
    }
  }

  private awaitViewerAck(
    recipientId: string,
    devices: DeviceAttention[],
    message: ChatMessage,
  ): void {
    const acks = devices.map((device) =>
      this.emitWithAck(device, message).catch(async (error: unknown) => {
        await this.attention.markAckMissed(device.userId, device.socketId);
        throw error;
      }),
    );
    Promise.any(acks).then(
      () => this.push.recordSeen(recipientId, message),
      () => {
        this.logger.info(
          {
            recipientId,
            messageId: message.id,
            conversationId: message.conversationId,
          },
          "no viewing device acked in time; scheduling a push",
        );
        this.schedulePush(recipientId, message);
      },
    );
  }

  /** Resolves when the device acks `message:new`; rejects after ackTimeoutMs. */
  private emitWithAck(
    device: DeviceAttention,
    message: ChatMessage,
  ): Promise<void> {
    const local = this.io.sockets.sockets.get(device.socketId);
    // A socket on this node is reached directly; one on another node through the adapter.
    const target = (local ?? this.io.to(device.socketId)).timeout(
      this.ackTimeoutMs,
    );
    const emit = target.emit.bind(target) as unknown as (
      event: "message:new",
      message: ChatMessage,
      ack: (error: Error | null, responses?: unknown[]) => void,
    ) => void;
    return new Promise((resolve, reject) => {
      emit("message:new", message, (error, responses) => {
        // A broadcast that reached no socket (it closed meanwhile) calls back
        // with no error and no responses: that is no ack either.
        if (error) reject(error);
        else if (!local && responses?.length === 0)
          reject(new Error("socket gone"));
        else resolve();
      });
    });
  }

  private schedulePush(recipientId: string, message: ChatMessage): void {
    this.push.schedule(recipientId, message).catch((error: unknown) => {
      this.logger.error(
        {
          err: error,
          recipientId,
          messageId: message.id,
          conversationId: message.conversationId,
        },
        "scheduling a push failed",
      );
    });
  }
}
