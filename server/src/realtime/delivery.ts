import type { AttentionService } from "../attention/service.js";
import { isViewing } from "../attention/viewing.js";
import type { DeliveryRequest, NodeBus } from "../cluster/node-bus.js";
import type { Logger } from "../observability/logger.js";
import type { ChatMessage } from "../protocol/index.js";
import type { PushService } from "../push/service.js";
import type { Conversation, DeviceAttention } from "../stores/types.js";
import { type ChatServer, type ChatSocket, userRoom } from "./types.js";

type Viewer = Pick<DeviceAttention, "userId" | "socketId">;

/**
 * Fans a new message out to every member's devices and hands the push
 * decision to the push service. Devices that are viewing the conversation
 * get the message with an ack request. When one of them acks within
 * `ackTimeoutMs`, the recipient is reading. Otherwise (half-dead socket,
 * frozen app) the message goes to the push batch like for any recipient
 * who is not viewing.
 *
 * The sender's node looks up every member's devices once. It writes to its
 * own sockets directly and sends one request per other node with a
 * device (see NodeBus); that node writes to its sockets and waits for its
 * viewers' acks.
 */
export class MessageDelivery {
  constructor(
    private readonly io: ChatServer,
    private readonly attention: AttentionService,
    private readonly push: PushService,
    private readonly ackTimeoutMs: number,
    private readonly bus: NodeBus | null,
    private readonly logger: Logger,
  ) {}

  /** Subscribes to delivery requests from other nodes, in a cluster. */
  async start(): Promise<void> {
    await this.bus?.start((request) => this.deliverLocally(request));
  }

  async deliver(
    conversation: Conversation,
    message: ChatMessage,
    origin?: ChatSocket,
  ): Promise<void> {
    const recipients = conversation.memberIds.filter(
      (memberId) => memberId !== message.senderId,
    );
    const devices = await this.lookUpDevices(conversation, message);
    if (!devices) {
      // Without attention data, everyone gets the broadcast and every
      // recipient a push batch, which is checked again when it is due.
      const rooms = conversation.memberIds.map(userRoom);
      (origin ? origin.to(rooms) : this.io.to(rooms)).emit(
        "message:new",
        message,
      );
      await Promise.all(
        recipients.map((recipientId) =>
          this.schedulePush(recipientId, message),
        ),
      );
      return;
    }

    const byNode = new Map<string, DeliveryRequest>();
    const viewing = new Set<string>();
    for (const [userId, list] of devices) {
      for (const device of list) {
        if (device.socketId === origin?.id) continue;
        let request = byNode.get(device.nodeId);
        if (!request) {
          request = { message, sockets: [], viewers: [] };
          byNode.set(device.nodeId, request);
        }
        if (userId !== message.senderId && isViewing(device, conversation.id)) {
          request.viewers.push({ userId, socketId: device.socketId });
          viewing.add(userId);
        } else {
          request.sockets.push(device.socketId);
        }
      }
    }

    for (const [nodeId, request] of byNode) {
      if (nodeId === this.attention.nodeId) this.deliverLocally(request);
      else this.sendToNode(nodeId, request);
    }
    // Awaited, so once the sender has its ack the pending pushes are stored
    // and survive this node dying.
    await Promise.all(
      recipients
        .filter((recipientId) => !viewing.has(recipientId))
        .map((recipientId) => this.schedulePush(recipientId, message)),
    );
  }

  /** Writes the message to this node's sockets and waits for its viewers' acks. */
  private deliverLocally({ message, sockets, viewers }: DeliveryRequest): void {
    if (sockets.length > 0) {
      // Socket ids are rooms of their own, so this is one encode for all of them.
      this.io.local.to(sockets).emit("message:new", message);
    }
    const byUser = new Map<string, Viewer[]>();
    for (const viewer of viewers) {
      byUser.set(viewer.userId, [...(byUser.get(viewer.userId) ?? []), viewer]);
    }
    for (const [userId, devices] of byUser) {
      this.awaitViewerAck(userId, devices, message);
    }
  }

  private sendToNode(nodeId: string, request: DeliveryRequest): void {
    const { message } = request;
    const fallBack = (reason: string) => {
      // The node did not take the request, so its viewers cannot ack.
      const users = new Set(request.viewers.map((viewer) => viewer.userId));
      this.logger.warn(
        { nodeId, messageId: message.id, viewers: users.size, reason },
        "delivery request reached no node; scheduling pushes for its viewers",
      );
      for (const userId of users) void this.schedulePush(userId, message);
    };
    if (!this.bus) {
      // Only a misconfiguration gets here: another node without a bus.
      this.io.to(request.sockets).emit("message:new", message);
      fallBack("no node bus");
      return;
    }
    this.bus.send(nodeId, request).then(
      (receivers) => {
        if (receivers === 0 && request.viewers.length > 0) {
          fallBack("node not subscribed");
        }
      },
      (error: unknown) => fallBack((error as Error).message),
    );
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

  /**
   * Sends the message to the recipient's viewing devices with an ack
   * request. The first ack records the message as seen; when none comes
   * within ackTimeoutMs, the devices are marked as not responding and the
   * message goes to the push batch. An ack that arrives after the deadline
   * still marks its device as answering again.
   */
  private awaitViewerAck(
    recipientId: string,
    devices: Viewer[],
    message: ChatMessage,
  ): void {
    let pending = devices.length;
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      for (const device of devices) {
        this.attention
          .markAckMissed(device.userId, device.socketId)
          .catch((error: unknown) =>
            this.logger.warn(
              { err: error, socketId: device.socketId },
              "marking a missed ack failed",
            ),
          );
      }
      this.logger.info(
        {
          recipientId,
          messageId: message.id,
          conversationId: message.conversationId,
        },
        "no viewing device acked in time; scheduling a push",
      );
      void this.schedulePush(recipientId, message);
    }, this.ackTimeoutMs);

    const onAck = (device: Viewer) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        this.push.recordSeen(recipientId, message);
        return;
      }
      // A late ack: the device is alive after all.
      this.attention
        .markResponsive(device.userId, device.socketId)
        .catch(() => undefined);
    };
    for (const device of devices) {
      const socket = this.io.sockets.sockets.get(device.socketId);
      if (!socket) {
        // Gone meanwhile, so it cannot ack.
        pending -= 1;
        continue;
      }
      const emit = socket.emit.bind(socket) as unknown as (
        event: "message:new",
        message: ChatMessage,
        ack: () => void,
      ) => void;
      emit("message:new", message, () => onAck(device));
    }
    if (pending === 0) {
      // No viewer is left on this node: push without waiting for the deadline.
      clearTimeout(timer);
      settled = true;
      void this.schedulePush(recipientId, message);
    }
  }

  /** Adds the message to the recipient's push batch; logs a failure and resolves anyway. */
  private schedulePush(
    recipientId: string,
    message: ChatMessage,
  ): Promise<void> {
    return this.push.schedule(recipientId, message).catch((error: unknown) => {
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
