import type { Redis } from "ioredis";
import { isViewing } from "../../attention/viewing.js";
import type {
  AttentionPatch,
  AttentionStore,
  DeviceAttention,
} from "../types.js";
import type { RedisKeys } from "./keys.js";
import {
  parseDevice,
  pipelineReplies,
  replyInteger,
  replyTuple,
} from "./records.js";
import type { StoreScripts } from "./scripts.js";

/** Maximum reads of a device entry before removeDevice gives up on concurrent updates. */
const MAX_REMOVE_ATTEMPTS = 5;

/**
 * Member of a node's socket set. It carries the user id too, because the
 * device entry to clean up after a dead node lives under that user.
 */
export function nodeSocketMember(userId: string, socketId: string): string {
  return JSON.stringify([userId, socketId]);
}

/**
 * Each user has one hash, socket id to the JSON of that socket's
 * DeviceAttention. A user is online while the hash exists, because Redis
 * deletes a hash when its last field goes.
 */
export class RedisAttentionStore implements AttentionStore {
  /**
   * @param isNodeAlive returns whether the node that holds a socket still has
   *   its lease. Entries of dead nodes are left out of every read until a
   *   live node removes them.
   */
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: StoreScripts,
    private readonly isNodeAlive: (nodeId: string) => boolean = () => true,
  ) {}

  private liveDevices(entries: string[]): DeviceAttention[] {
    return entries
      .map(parseDevice)
      .filter((device) => this.isNodeAlive(device.nodeId));
  }

  /** Records the socket and adds it to its node's set in one atomic script. */
  async addDevice(device: DeviceAttention) {
    const reply = await this.scripts.addDevice(
      [this.keys.devices(device.userId), this.keys.nodeSockets(device.nodeId)],
      [
        device.socketId,
        JSON.stringify(device),
        nodeSocketMember(device.userId, device.socketId),
      ],
    );
    return { firstDevice: replyInteger(reply, "add device") === 1 };
  }

  /** Reads, patches and writes the entry in one atomic script. */
  async updateDevice(
    userId: string,
    socketId: string,
    patch: AttentionPatch,
    changedAt: number,
  ) {
    // Fields set to undefined are left out, so they do not change the entry.
    const fields: AttentionPatch = {};
    if (patch.appState !== undefined) fields.appState = patch.appState;
    if (patch.openConversationId !== undefined) {
      fields.openConversationId = patch.openConversationId;
    }
    if (patch.ackMissedAt !== undefined) fields.ackMissedAt = patch.ackMissedAt;
    const reply = await this.scripts.updateDevice(
      [this.keys.devices(userId)],
      [socketId, JSON.stringify(fields), changedAt],
    );
    if (reply === null) return null;
    const [before, after] = replyTuple(reply, 2, "update device");
    return { before: parseDevice(before), after: parseDevice(after) };
  }

  /**
   * Reads the entry to learn its node, then removes it and its node set
   * member in one atomic script. The script removes nothing when the entry
   * changed in between, and the read is retried.
   */
  async removeDevice(userId: string, socketId: string) {
    const devicesKey = this.keys.devices(userId);
    for (let attempt = 1; attempt <= MAX_REMOVE_ATTEMPTS; attempt++) {
      const storedJson = await this.redis.hget(devicesKey, socketId);
      if (storedJson === null) return { removed: null, lastDevice: false };
      const stored = parseDevice(storedJson);

      const [status, last] = replyTuple(
        await this.scripts.removeDevice(
          [devicesKey, this.keys.nodeSockets(stored.nodeId)],
          [socketId, storedJson, nodeSocketMember(userId, socketId)],
        ),
        2,
        "remove device",
      );
      const outcome = replyInteger(status, "remove device");
      if (outcome === 0) return { removed: null, lastDevice: false };
      if (outcome === 1) {
        return {
          removed: stored,
          lastDevice: replyInteger(last, "remove device") === 1,
        };
      }
    }
    throw new Error(
      `Removing socket ${socketId} of user ${userId} failed: its entry changed during each of ${MAX_REMOVE_ATTEMPTS} attempts`,
    );
  }

  async listDevices(userId: string) {
    return this.liveDevices(await this.redis.hvals(this.keys.devices(userId)));
  }

  /** Checks every user in one pipelined round trip; devices of dead nodes do not count. */
  async areOnline(userIds: string[]) {
    if (userIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const userId of userIds) pipeline.hvals(this.keys.devices(userId));
    return pipelineReplies(await pipeline.exec()).map(
      (entries) =>
        Array.isArray(entries) &&
        this.liveDevices(entries as string[]).length > 0,
    );
  }

  /** Reads every user's devices in one pipelined round trip. */
  async listDevicesOf(userIds: string[]) {
    const result = new Map<string, DeviceAttention[]>();
    if (userIds.length === 0) return result;
    const pipeline = this.redis.pipeline();
    for (const userId of userIds) pipeline.hvals(this.keys.devices(userId));
    const replies = pipelineReplies(await pipeline.exec());
    userIds.forEach((userId, index) => {
      const devices = this.liveDevices(replies[index] as string[]);
      if (devices.length > 0) result.set(userId, devices);
    });
    return result;
  }

  /** Reads every user's devices in one pipelined round trip and filters them with isViewing. */
  async findViewers(conversationId: string, userIds: string[]) {
    const viewers = new Map<string, DeviceAttention[]>();
    if (userIds.length === 0) return viewers;
    const pipeline = this.redis.pipeline();
    for (const userId of userIds) pipeline.hvals(this.keys.devices(userId));
    const replies = pipelineReplies(await pipeline.exec());
    userIds.forEach((userId, index) => {
      const entries = replies[index];
      if (!Array.isArray(entries)) {
        throw new TypeError(
          `Unexpected reply to HVALS of the devices of ${userId}: expected a list`,
        );
      }
      for (const device of this.liveDevices(entries as string[])) {
        if (!isViewing(device, conversationId)) continue;
        // A user id given twice collects its devices twice, as in the memory store.
        const list = viewers.get(userId);
        if (list) list.push(device);
        else viewers.set(userId, [device]);
      }
    });
    return viewers;
  }
}
