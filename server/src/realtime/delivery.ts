import type { AttentionService } from "../attention/service.js";
import { isViewing } from "../attention/viewing.js";
import type { DeliveryRequest, NodeBus } from "../cluster/node-bus.js";
import type { Logger } from "../observability/logger.js";
import type { ChatMessage } from "../protocol/index.js";
import type { PushService } from "../push/service.js";
import type { Conversation, DeviceAttention } from "../stores/types.js";
import { DeadlineQueue } from "./deadline-queue.js";
import { type ChatServer, type ChatSocket, userRoom } from "./types.js";

type Viewer = Pick<DeviceAttention, "userId" | "socketId">;

const NO_DEVICES: DeviceAttention[] = [];

/** One recipient's viewing devices that were sent a message and may ack it. */
interface ViewerAckWait {
  recipientId: string;
  devices: Viewer[];
  message: ChatMessage;
  /** Id in the deadline queue. The wait stays queued until a device acks or the deadline passes. */
  deadlineId: number;
}

/** `socket.emit` with an ack callback, which the typed server events leave out. */
type EmitWithAck = (
  event: "message:new",
  message: ChatMessage,
  ack: () => void,
) => void;

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
  private readonly ackDeadlines: DeadlineQueue<ViewerAckWait>;

  constructor(
    private readonly io: ChatServer,
    private readonly attention: AttentionService,
    private readonly push: PushService,
    private readonly ackTimeoutMs: number,
    private readonly bus: NodeBus | null,
    private readonly logger: Logger,
  ) {
    this.ackDeadlines = new DeadlineQueue(ackTimeoutMs, (wait) =>
      this.onAckMissed(wait),
    );
  }

  /** Subscribes to delivery requests from other nodes, in a cluster. */
  async start(): Promise<void> {
    await this.bus?.start((request) => this.deliverLocally(request));
  }

  async deliver(
    conversation: Conversation,
    message: ChatMessage,
    origin?: ChatSocket,
  ): Promise<void> {
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
        conversation.memberIds
          .filter((memberId) => memberId !== message.senderId)
          .map((recipientId) => this.schedulePush(recipientId, message)),
      );
      return;
    }

    const ownNode = this.attention.nodeId;
    // This node's share is built without a map; other nodes get one request each.
    const local: DeliveryRequest = { message, sockets: [], viewers: [] };
    let remote: Map<string, DeliveryRequest> | null = null;
    let notViewing: string[] | null = null;
    for (const memberId of conversation.memberIds) {
      const isRecipient = memberId !== message.senderId;
      let viewing = false;
      for (const device of devices.get(memberId) ?? NO_DEVICES) {
        if (device.socketId === origin?.id) continue;
        let request = local;
        if (device.nodeId !== ownNode) {
          remote ??= new Map();
          let forNode = remote.get(device.nodeId);
          if (!forNode) {
            forNode = { message, sockets: [], viewers: [] };
            remote.set(device.nodeId, forNode);
          }
          request = forNode;
        }
        if (isRecipient && isViewing(device, conversation.id)) {
          request.viewers.push({ userId: memberId, socketId: device.socketId });
          viewing = true;
        } else {
          request.sockets.push(device.socketId);
        }
      }
      if (isRecipient && !viewing) (notViewing ??= []).push(memberId);
    }

    this.deliverLocally(local);
    if (remote) {
      for (const [nodeId, request] of remote) this.sendToNode(nodeId, request);
    }
    // Awaited, so once the sender has its ack the pending pushes are stored
    // and survive this node dying.
    if (notViewing) {
      await Promise.all(
        notViewing.map((recipientId) =>
          this.schedulePush(recipientId, message),
        ),
      );
    }
  }

  /**
   * Writes the message to this node's sockets and waits for its viewers'
   * acks. Viewers of one user are next to each other in the request.
   */
  private deliverLocally({ message, sockets, viewers }: DeliveryRequest): void {
    if (sockets.length > 0) {
      // Socket ids are rooms of their own, so this is one encode for all of them.
      this.io.local.to(sockets).emit("message:new", message);
    }
    let start = 0;
    while (start < viewers.length) {
      const userId = viewers[start]!.userId;
      let end = start + 1;
      while (end < viewers.length && viewers[end]!.userId === userId) end += 1;
      this.awaitViewerAck(
        userId,
        start === 0 && end === viewers.length
          ? viewers
          : viewers.slice(start, end),
        message,
      );
      start = end;
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
    const wait: ViewerAckWait = {
      recipientId,
      devices,
      message,
      deadlineId: -1,
    };
    let sent = 0;
    for (const device of devices) {
      const socket = this.io.sockets.sockets.get(device.socketId);
      // A socket gone meanwhile cannot ack.
      if (!socket) continue;
      (socket.emit as unknown as EmitWithAck).call(
        socket,
        "message:new",
        message,
        () => this.onViewerAck(wait, device),
      );
      sent += 1;
    }
    if (sent === 0) {
      // No viewer is left on this node: push without waiting for the deadline.
      void this.schedulePush(recipientId, message);
      return;
    }
    wait.deadlineId = this.ackDeadlines.add(wait);
  }

  private onViewerAck(wait: ViewerAckWait, device: Viewer): void {
    // The first ack finds the wait still queued.
    if (this.ackDeadlines.delete(wait.deadlineId)) {
      this.push.recordSeen(wait.recipientId, wait.message);
      return;
    }
    // A second or late ack: the device is alive after all.
    this.attention
      .markResponsive(device.userId, device.socketId)
      .catch(() => undefined);
  }

  private onAckMissed(wait: ViewerAckWait): void {
    const { recipientId, message } = wait;
    for (const device of wait.devices) {
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
