import { isViewing } from "../../attention/viewing.js";
import type {
  AttentionPatch,
  AttentionStore,
  DeviceAttention,
} from "../types.js";

export class MemoryAttentionStore implements AttentionStore {
  /** userId to its devices by socket id; a user with no device has no entry. */
  private readonly byUser = new Map<string, Map<string, DeviceAttention>>();

  async addDevice(device: DeviceAttention) {
    let devices = this.byUser.get(device.userId);
    const firstDevice = !devices;
    if (!devices) {
      devices = new Map();
      this.byUser.set(device.userId, devices);
    }
    devices.set(device.socketId, { ...device });
    return { firstDevice };
  }

  async updateDevice(
    userId: string,
    socketId: string,
    patch: AttentionPatch,
    changedAt: number,
  ) {
    const device = this.byUser.get(userId)?.get(socketId);
    if (!device) return null;
    const before = { ...device };
    Object.assign(device, patch, { changedAt });
    return { before, after: { ...device } };
  }

  async removeDevice(userId: string, socketId: string) {
    const devices = this.byUser.get(userId);
    const removed = devices?.get(socketId) ?? null;
    if (!devices || !removed) return { removed: null, lastDevice: false };
    devices.delete(socketId);
    if (devices.size > 0) return { removed, lastDevice: false };
    this.byUser.delete(userId);
    return { removed, lastDevice: true };
  }

  async listDevices(userId: string) {
    return [...(this.byUser.get(userId)?.values() ?? [])].map((device) => ({
      ...device,
    }));
  }

  async areOnline(userIds: string[]) {
    return userIds.map((userId) => this.byUser.has(userId));
  }

  async listDevicesOf(userIds: string[]) {
    const result = new Map<string, DeviceAttention[]>();
    for (const userId of userIds) {
      const devices = this.byUser.get(userId);
      if (devices) {
        result.set(
          userId,
          [...devices.values()].map((device) => ({ ...device })),
        );
      }
    }
    return result;
  }

  async findViewers(conversationId: string, userIds: string[]) {
    const viewers = new Map<string, DeviceAttention[]>();
    for (const userId of userIds) {
      const devices = this.byUser.get(userId);
      if (!devices) continue;
      for (const device of devices.values()) {
        if (!isViewing(device, conversationId)) continue;
        const list = viewers.get(userId);
        if (list) list.push({ ...device });
        else viewers.set(userId, [{ ...device }]);
      }
    }
    return viewers;
  }

  /** Number of users with a device; used by tests and the churn check. */
  get size() {
    return this.byUser.size;
  }
}
