import type { Redis } from "ioredis";
import type { Logger } from "../observability/logger.js";
import type { RedisKeys } from "../stores/redis/keys.js";

export interface MembershipHooks {
  /** Socket ids connected to this node right now. */
  localSocketIds(): Set<string>;
  /** Removes one device entry, as a disconnect would, and announces the change. */
  removeDevice(userId: string, socketId: string): Promise<void>;
  /** Writes every local device entry again, after Redis lost or dropped them. */
  restoreLocalDevices(): Promise<void>;
}

export interface MembershipOptions {
  nodeId: string;
  heartbeatMs: number;
  leaseMs: number;
}

/** Socket entries removed per dead node in one pass; the rest follow on the next heartbeat. */
const SWEEP_BATCH = 1000;

/**
 * Cluster membership through leases in Redis. Every node renews its lease
 * each `heartbeatMs`; a node whose lease ran out (it crashed, or was
 * SIGKILLed) is dead. Its device entries stop counting at once, because
 * attention reads check `isAlive`, and one live node removes them, which
 * announces the users offline and lets the push service push what they had
 * not read.
 *
 * Lease times come from each node's own clock.
 * NOTE: clocks that drift apart by more than leaseMs - heartbeatMs would
 * make live nodes look dead.
 */
export class NodeMembership {
  /** Nodes whose lease had ended at the last heartbeat and that are not swept yet. */
  private deadNodes = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private hooks: MembershipHooks | null = null;
  private stopped = false;
  /** Set when Redis reconnected; the next heartbeat restores local entries. */
  private needsRestore = false;
  /**
   * No sweeping before this epoch ms. After an outage every node's lease may
   * have run out, so peers get one lease to renew theirs before they are
   * taken for dead.
   */
  private sweepAfter = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly options: MembershipOptions,
    private readonly logger: Logger,
  ) {}

  /**
   * Whether the node holds its lease, as of this node's last heartbeat. A
   * node that joined since then counts as alive, so its first devices are
   * not hidden until the next heartbeat.
   */
  isAlive = (nodeId: string): boolean =>
    nodeId === this.options.nodeId || !this.deadNodes.has(nodeId);

  /** Takes the lease, learns the live nodes, then keeps beating. */
  async start(hooks: MembershipHooks): Promise<void> {
    this.hooks = hooks;
    let connectedOnce = false;
    this.redis.on("ready", () => {
      // The first "ready" is the initial connection; later ones follow an outage.
      if (connectedOnce) {
        this.needsRestore = true;
        this.sweepAfter = Date.now() + this.options.leaseMs;
      }
      connectedOnce = true;
    });
    if (this.redis.status === "ready") connectedOnce = true;
    // A node that restarts under the same NODE_ID finds its old entries here.
    await this.removeEntriesWithoutSocket();
    await this.beat();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.redis
      .multi()
      .zrem(this.keys.nodes(), this.options.nodeId)
      .del(this.keys.nodeSockets(this.options.nodeId))
      .exec()
      .catch((error: unknown) =>
        this.logger.warn(
          { err: error, nodeId: this.options.nodeId },
          "leaving the cluster failed",
        ),
      );
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.beat()
        .catch((error: unknown) =>
          this.logger.warn(
            { err: error, nodeId: this.options.nodeId },
            "heartbeat failed",
          ),
        )
        .finally(() => this.schedule());
    }, this.options.heartbeatMs);
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    const { nodeId, leaseMs } = this.options;
    const replies = await this.redis
      .multi()
      .zadd(this.keys.nodes(), now + leaseMs, nodeId)
      .zrangebyscore(this.keys.nodes(), "-inf", `(${now}`)
      .exec();
    if (!replies) throw new Error("heartbeat transaction was aborted");
    const dead = replies[1]?.[1] as string[];
    // Right after an outage, leases that ran out during it do not show who is dead.
    this.deadNodes = now < this.sweepAfter ? new Set() : new Set(dead);

    if (this.needsRestore) {
      this.needsRestore = false;
      await this.restore();
    }
    if (now < this.sweepAfter) return;
    for (const deadNodeId of dead) await this.sweep(deadNodeId);
  }

  /**
   * After an outage, writes the local entries again and drops entries of
   * this node that no local socket matches (their disconnects could not be
   * stored while Redis was away).
   */
  private async restore(): Promise<void> {
    await this.hooks!.restoreLocalDevices();
    const removed = await this.removeEntriesWithoutSocket();
    this.logger.info(
      {
        nodeId: this.options.nodeId,
        restored: this.hooks!.localSocketIds().size,
        removed,
      },
      "attention restored after Redis reconnected",
    );
  }

  /** Removes this node's entries that no local socket matches; returns how many. */
  private async removeEntriesWithoutSocket(): Promise<number> {
    const hooks = this.hooks!;
    const setKey = this.keys.nodeSockets(this.options.nodeId);
    const members = await this.redis.smembers(setKey);
    const local = hooks.localSocketIds();
    let removed = 0;
    for (const member of members) {
      const [userId, socketId] = JSON.parse(member) as [string, string];
      if (local.has(socketId)) continue;
      await hooks.removeDevice(userId, socketId);
      await this.redis.srem(setKey, member);
      removed++;
    }
    return removed;
  }

  /** Removes a dead node's entries; a lock makes one live node do it. */
  private async sweep(deadNodeId: string): Promise<void> {
    const lock = await this.redis.set(
      this.keys.nodeSweepLock(deadNodeId),
      this.options.nodeId,
      "PX",
      this.options.leaseMs,
      "NX",
    );
    if (lock !== "OK") return;
    const setKey = this.keys.nodeSockets(deadNodeId);
    const members = await this.redis.srandmember(setKey, SWEEP_BATCH);
    for (const member of members) {
      const [userId, socketId] = JSON.parse(member) as [string, string];
      await this.hooks!.removeDevice(userId, socketId);
      await this.redis.srem(setKey, member);
    }
    const remaining = await this.redis.scard(setKey);
    if (remaining === 0) {
      await this.redis
        .multi()
        .zrem(this.keys.nodes(), deadNodeId)
        .del(this.keys.nodeSweepLock(deadNodeId))
        .exec();
      this.logger.warn(
        { deadNodeId, sockets: members.length },
        "removed the devices of a dead node",
      );
    } else {
      // Let the next heartbeat, on any node, continue with the rest.
      await this.redis.del(this.keys.nodeSweepLock(deadNodeId));
    }
  }
}
