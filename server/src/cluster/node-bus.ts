import type { Redis } from "ioredis";
import type { Logger } from "../observability/logger.js";
import type { ChatMessage } from "../protocol/index.js";
import type { RedisKeys } from "../stores/redis/keys.js";

/** Delivery request from one node to another: a message for some of its sockets. */
export interface DeliveryRequest {
  message: ChatMessage;
  /** Sockets that get the message without an ack request. */
  sockets: string[];
  /** Viewing devices, which get it with an ack request. */
  viewers: { userId: string; socketId: string }[];
}

/**
 * Node-to-node delivery over Redis pub/sub: each node subscribes to its own
 * inbox channel, and a sender publishes one request per node with a
 * recipient's device. Unlike a Socket.IO broadcast through the adapter, a
 * node without recipients gets nothing, and the node with a viewing
 * socket waits for its ack itself, so the sender never waits on another
 * node.
 */
export class NodeBus {
  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly keys: RedisKeys,
    private readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  /** Subscribes to this node's inbox and hands each request to `handler`. */
  async start(handler: (request: DeliveryRequest) => void): Promise<void> {
    const inbox = this.keys.nodeInbox(this.nodeId);
    this.subscriber.on("message", (channel: string, payload: string) => {
      if (channel !== inbox) return;
      let request: DeliveryRequest;
      try {
        request = JSON.parse(payload) as DeliveryRequest;
      } catch (error) {
        this.logger.error({ err: error }, "unreadable delivery request");
        return;
      }
      handler(request);
    });
    await this.subscriber.subscribe(inbox);
  }

  /**
   * Publishes a request to another node. Resolves with the number of nodes
   * that received it: 0 means the node is gone (its lease may not have run
   * out yet), so the caller treats its viewers as not having acked.
   */
  send(nodeId: string, request: DeliveryRequest): Promise<number> {
    return this.publisher.publish(
      this.keys.nodeInbox(nodeId),
      JSON.stringify(request),
    );
  }

  async stop(): Promise<void> {
    await this.subscriber
      .unsubscribe(this.keys.nodeInbox(this.nodeId))
      .catch(() => undefined);
  }
}
