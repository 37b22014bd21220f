import type { Logger } from "../observability/logger.js";
import type { AppState } from "../protocol/index.js";
import type {
  AttentionPatch,
  AttentionStore,
  DeviceAttention,
} from "../stores/types.js";
import { isViewing } from "./viewing.js";

/** One change to a device's attention; `before` is null on connect, `after` is null on disconnect. */
export interface AttentionChange {
  userId: string;
  socketId: string;
  before: DeviceAttention | null;
  after: DeviceAttention | null;
}

export type AttentionListener = (change: AttentionChange) => void;
export type PresenceListener = (userId: string, online: boolean) => void;

/**
 * Presence and per-device attention. Operations on one socket run one after
 * another, so a disconnect that arrives while the connect is still being
 * stored removes the entry afterwards instead of racing it.
 */
export class AttentionService {
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly changeListeners: AttentionListener[] = [];
  private readonly presenceListeners: PresenceListener[] = [];
  /** Entries of this node's sockets as last stored, to write them again after a Redis outage. */
  private readonly local = new Map<string, DeviceAttention>();

  constructor(
    private readonly store: AttentionStore,
    /** Node that this service records sockets for. */
    readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  onChange(listener: AttentionListener): void {
    this.changeListeners.push(listener);
  }

  onPresence(listener: PresenceListener): void {
    this.presenceListeners.push(listener);
  }

  connect(userId: string, socketId: string, appState: AppState): Promise<void> {
    return this.serialize(socketId, async () => {
      const now = Date.now();
      const device: DeviceAttention = {
        socketId,
        userId,
        nodeId: this.nodeId,
        appState,
        openConversationId: null,
        connectedAt: now,
        changedAt: now,
        ackMissedAt: null,
      };
      const { firstDevice } = await this.store.addDevice(device);
      this.logger.debug(
        { userId, socketId, appState, firstDevice },
        "device connected",
      );
      this.emitChange({ userId, socketId, before: null, after: device });
      if (firstDevice) this.emitPresence(userId, true);
    });
  }

  update(
    userId: string,
    socketId: string,
    patch: AttentionPatch,
  ): Promise<DeviceAttention | null> {
    return this.serialize(socketId, async () => {
      const updated = await this.store.updateDevice(
        userId,
        socketId,
        patch,
        Date.now(),
      );
      if (!updated) return null;
      this.emitChange({ userId, socketId, ...updated });
      return updated.after;
    });
  }

  /**
   * Marks a device that failed to ack a `message:new` in time, so it stops
   * counting as viewing until it sends an event again.
   */
  markAckMissed(userId: string, socketId: string): Promise<void> {
    return this.serialize(socketId, async () => {
      const updated = await this.store.updateDevice(
        userId,
        socketId,
        { ackMissedAt: Date.now() },
        Date.now(),
      );
      if (updated) this.emitChange({ userId, socketId, ...updated });
    });
  }

  /** Clears a missed ack after the device showed it is alive (a read receipt). */
  markResponsive(userId: string, socketId: string): Promise<void> {
    return this.serialize(socketId, async () => {
      const devices = await this.store.listDevices(userId);
      const device = devices.find((entry) => entry.socketId === socketId);
      if (!device || device.ackMissedAt === null) return;
      const updated = await this.store.updateDevice(
        userId,
        socketId,
        { ackMissedAt: null },
        Date.now(),
      );
      if (updated) this.emitChange({ userId, socketId, ...updated });
    });
  }

  /**
   * Clears the open conversation when it is `conversationId`. Closing one
   * that is no longer on screen does nothing, so a late close cannot undo a
   * newer open.
   */
  closeConversation(
    userId: string,
    socketId: string,
    conversationId: string,
  ): Promise<void> {
    return this.serialize(socketId, async () => {
      const devices = await this.store.listDevices(userId);
      const device = devices.find((entry) => entry.socketId === socketId);
      if (device?.openConversationId !== conversationId) return;
      const updated = await this.store.updateDevice(
        userId,
        socketId,
        { openConversationId: null },
        Date.now(),
      );
      if (updated) this.emitChange({ userId, socketId, ...updated });
    });
  }

  disconnect(userId: string, socketId: string): Promise<void> {
    return this.serialize(socketId, async () => {
      // Forgotten first, so a restore after a Redis outage never writes back
      // a socket whose removal failed.
      this.local.delete(socketId);
      const { removed, lastDevice } = await this.store.removeDevice(
        userId,
        socketId,
      );
      if (!removed) return;
      this.logger.debug(
        { userId, socketId, lastDevice },
        "device disconnected",
      );
      this.emitChange({ userId, socketId, before: removed, after: null });
      if (lastDevice) this.emitPresence(userId, false);
    });
  }

  /** Whether any device of the user is viewing the conversation right now. */
  async isUserViewing(
    userId: string,
    conversationId: string,
  ): Promise<boolean> {
    const devices = await this.store.listDevices(userId);
    return devices.some((device) => isViewing(device, conversationId));
  }

  /** Live devices of each user that has any. */
  listDevicesOf(userIds: string[]): Promise<Map<string, DeviceAttention[]>> {
    return this.store.listDevicesOf(userIds);
  }

  listDevices(userId: string): Promise<DeviceAttention[]> {
    return this.store.listDevices(userId);
  }

  /** Number of sockets with an operation still queued; zero when idle. */
  get pendingOperations(): number {
    return this.queues.size;
  }

  private serialize<T>(
    socketId: string,
    operation: () => Promise<T>,
  ): Promise<T> {
    const previous = this.queues.get(socketId) ?? Promise.resolve();
    const result = previous.then(operation, operation);
    const tail = result.catch(() => undefined);
    this.queues.set(socketId, tail);
    void tail.then(() => {
      if (this.queues.get(socketId) === tail) this.queues.delete(socketId);
    });
    return result;
  }

  /** Socket ids of this node with an attention entry. */
  localSocketIds(): Set<string> {
    return new Set(this.local.keys());
  }

  /** Writes every local entry again; a user who had no entry left comes online again. */
  async restoreLocalDevices(): Promise<void> {
    for (const device of [...this.local.values()]) {
      await this.serialize(device.socketId, async () => {
        if (!this.local.has(device.socketId)) return;
        const { firstDevice } = await this.store.addDevice(device);
        if (firstDevice) this.emitPresence(device.userId, true);
      });
    }
  }

  /**
   * Removes an entry whose socket is gone without a disconnect being stored:
   * one of a dead node, or one of this node that disconnected during a Redis
   * outage. Listeners see it as a disconnect.
   */
  removeStale(userId: string, socketId: string): Promise<void> {
    return this.disconnect(userId, socketId);
  }

  private emitChange(change: AttentionChange): void {
    if (change.after === null) this.local.delete(change.socketId);
    else if (change.after.nodeId === this.nodeId) {
      this.local.set(change.socketId, change.after);
    }
    for (const listener of this.changeListeners) {
      try {
        listener(change);
      } catch (error) {
        this.logger.error(
          { err: error, userId: change.userId, socketId: change.socketId },
          "attention listener failed",
        );
      }
    }
  }

  private emitPresence(userId: string, online: boolean): void {
    for (const listener of this.presenceListeners) {
      try {
        listener(userId, online);
      } catch (error) {
        this.logger.error({ err: error, userId }, "presence listener failed");
      }
    }
  }
}
