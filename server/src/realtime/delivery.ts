import type { AttentionService } from "../attention/service.js";
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
    const viewers = await this.findViewers(
      conversation.id,
      recipients,
      message,
    );

    const rooms = conversation.memberIds.map(userRoom);
    let broadcast = origin ? origin.to(rooms) : this.io.to(rooms);
    if (viewers.size > 0) {
      const viewerSockets = [...viewers.values()].flat().map((d) => d.socketId);
      broadcast = broadcast.except(viewerSockets);
    }
    broadcast.emit("message:new", message);

    for (const recipientId of recipients) {
      const devices = viewers.get(recipientId);
      if (devices) {
        this.awaitViewerAck(recipientId, devices, message);
      } else {
        this.schedulePush(recipientId, message);
      }
    }
  }

  /**
   * Looks up viewing devices. When the attention store fails, every
   * recipient is treated as not viewing: a push is then checked again when
   * it is due, while a wrongly skipped push would be lost.
   */
  private async findViewers(
    conversationId: string,
    recipients: string[],
    message: ChatMessage,
  ): Promise<Map<string, DeviceAttention[]>> {
    try {
      return await this.attention.findViewers(conversationId, recipients);
    } catch (error) {
      this.logger.error(
        { err: error, conversationId, messageId: message.id },
        "looking up viewers failed; treating every recipient as not viewing",
      );
      return new Map();
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
      () =>
        this.push.recordSeen(recipientId, message).catch((error: unknown) => {
          this.logger.error(
            { err: error, recipientId, messageId: message.id },
            "recording a seen message failed",
          );
        }),
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
