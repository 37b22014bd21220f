import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { addToBatch, pushBatchKey } from "../../push/batch.js";
import {
  PUSH_BATCH_ACTORS_KEPT,
  PUSH_BATCH_ITEMS_KEPT,
  type DueHandler,
  type PushBatch,
  type PushQueue,
  type PushQueueEntry,
  type PushTiming,
} from "../types.js";
import type { RedisKeys } from "./keys.js";
import type { PushScripts } from "./push-scripts.js";
import {
  encodePushBatchRecord,
  parsePushBatchRecord,
  parseSettledSeq,
  pipelineReplies,
  replyInteger,
} from "./records.js";

/**
 * How long a settled seq is kept after it was last raised, in ms. Once it
 * expires, a viewer who leaves a conversation whose unread messages were
 * pushed more than 7 days ago gets them pushed once more, as after the
 * memory queue drops a key past its MAX_SETTLED_KEYS.
 */
export const SETTLED_SEQ_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Batches claimed by one script call. */
const CLAIMS_PER_CALL = 100;
/** Script calls per poll, so a backlog cannot keep one poll running for long. */
const MAX_CALLS_PER_POLL = 10;
/**
 * Maximum handlers running at once on one node. Past it, the node leaves
 * due batches to other nodes. A message push handler runs until OneSignal
 * responds, and handlers waiting for the same coalesced request hold a slot
 * each, so the bound is above the 2,000 recipients of one request.
 */
const MAX_HANDLERS_RUNNING = 4096;

export interface RedisPushQueueOptions {
  /** Time in ms between the end of one poll and the start of the next. */
  pollIntervalMs: number;
  /** Lease in ms of a claimed batch, renewed every leaseMs / 3 while its handler runs on a polling node. */
  leaseMs: number;
  /** Start of this node's claim ids, to tell which node has a claim. */
  nodeId: string;
  /** Receives errors of polls, handlers and releases, because the queue logs nothing itself. */
  onError?: (error: unknown) => void;
}

/**
 * Distributed push scheduler. Pending batches live in a hash with their due
 * times in a sorted set, so any node can claim any batch. Each node polls:
 * one script moves due batches into a claim hash with a lease, and the node
 * hands each to its handler and releases the claim once the handler
 * settles. Only one node can claim a due batch, so it fires once.
 *
 * While a node polls, it renews the leases of its running handlers every
 * leaseMs / 3, so a slow send with OneSignal retries keeps its claim. A
 * claim whose lease expires, because its node died, closed or stalled
 * mid-send, is claimed by any node and handed to a handler again. That can
 * repeat a send after a crash, and the idempotency_key of the push makes
 * OneSignal drop the repeat.
 *
 * Due times and leases are compared with each node's clock, so node clocks
 * should be synchronized. A node whose clock is ahead fires early by the
 * difference.
 */
export class RedisPushQueue implements PushQueue {
  private handler: DueHandler | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The running poll, which never rejects. */
  private polling: Promise<void> | null = null;
  /** Claim ids of the handlers running on this node, whose leases it renews. */
  private readonly runningClaims = new Set<string>();
  /** Epoch ms of the last lease renewal. */
  private renewedAt = 0;
  /**
   * True when the last poll stopped with due batches possibly left: it hit
   * MAX_CALLS_PER_POLL or MAX_HANDLERS_RUNNING. The next poll then starts
   * as soon as a handler slot is free instead of after pollIntervalMs.
   */
  private backlog = false;
  /** Claim ids whose handlers settled, deleted together in one transaction. */
  private releasing: { claimId: string; done: () => void }[] = [];
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: PushScripts,
    private readonly options: RedisPushQueueOptions,
  ) {}

  /** Merges the item into its batch and moves the due time in one script, like the memory queue's addToBatch and dueTime. */
  async add(entry: PushQueueEntry, timing: PushTiming, now: number) {
    const key = pushBatchKey(entry.kind, entry.recipientId, entry.topic);
    await this.scripts.addToBatch(
      [this.keys.pushBatches(), this.keys.pushDue()],
      [
        key,
        encodePushBatchRecord(addToBatch(undefined, entry)),
        now,
        timing.debounceMs,
        timing.maxWaitMs,
        PUSH_BATCH_ITEMS_KEPT,
        PUSH_BATCH_ACTORS_KEPT,
      ],
    );
  }

  async cancel(key: string, upToSeq?: number) {
    const reply = await this.scripts.cancelBatch(
      [this.keys.pushBatches(), this.keys.pushDue()],
      [key, upToSeq ?? ""],
    );
    return replyInteger(reply, "cancel batch") === 1;
  }

  async defer(batch: PushBatch, dueAt: number) {
    await this.scripts.deferBatch(
      [this.keys.pushBatches(), this.keys.pushDue()],
      [
        batch.key,
        encodePushBatchRecord({ ...batch, dueAt }),
        PUSH_BATCH_ITEMS_KEPT,
        PUSH_BATCH_ACTORS_KEPT,
      ],
    );
  }

  async getSettledSeq(key: string) {
    return parseSettledSeq(await this.redis.get(this.keys.pushSettled(key)));
  }

  /** Raises the seq in one script and keeps it for SETTLED_SEQ_TTL_MS after the last raise. */
  async settle(key: string, seq: number) {
    await this.scripts.settleSeq(
      [this.keys.pushSettled(key)],
      [seq, SETTLED_SEQ_TTL_MS],
    );
  }

  /**
   * Starts polling every `pollIntervalMs`. Calling it again only replaces
   * the handler. After close() it does nothing.
   */
  start(handler: DueHandler) {
    const first = this.handler === null;
    this.handler = handler;
    if (first) this.schedulePoll(0);
  }

  /** Pending batches, not counting those a node is handing to its handler. */
  async size() {
    return this.redis.hlen(this.keys.pushBatches());
  }

  /**
   * Stops polling and waits for a running poll. Handlers that are still
   * running go on and release their claims when they settle, but their
   * leases are no longer renewed. The Redis connection stays open, because
   * the caller owns it.
   */
  async close() {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.polling;
  }

  private schedulePoll(delayMs: number) {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedulePoll(
          this.backlog && this.hasRoom() ? 0 : this.options.pollIntervalMs,
        );
      });
    }, delayMs);
  }

  private hasRoom(): boolean {
    return this.runningClaims.size < MAX_HANDLERS_RUNNING;
  }

  /** Renews leases, then claims due batches until none is left, the call limit is hit or enough handlers run. */
  private async poll() {
    const handler = this.handler;
    if (!handler) return;
    this.backlog = false;
    try {
      await this.renewLeases();
      for (let call = 0; call < MAX_CALLS_PER_POLL; call++) {
        const room = Math.min(
          CLAIMS_PER_CALL,
          MAX_HANDLERS_RUNNING - this.runningClaims.size,
        );
        if (room < 1 || this.closed) {
          this.backlog = room < 1;
          return;
        }
        const claims = await this.claim(room);
        for (const [claimId, record] of claims) {
          this.dispatch(handler, claimId, record);
        }
        if (claims.length < room) return;
      }
      this.backlog = true;
    } catch (error) {
      this.report(error);
    }
  }

  /**
   * Moves the lease of every running claim to now + leaseMs. XX updates
   * only claims that still exist, so a claim that expired and moved to
   * another node is not brought back.
   */
  private async renewLeases() {
    const now = Date.now();
    if (this.runningClaims.size === 0) return;
    if (now - this.renewedAt < this.options.leaseMs / 3) return;
    this.renewedAt = now;
    const leaseUntil = now + this.options.leaseMs;
    const scoresAndMembers = [...this.runningClaims].flatMap((claimId) => [
      leaseUntil,
      claimId,
    ]);
    await this.redis.zadd(this.keys.pushLeases(), "XX", ...scoresAndMembers);
  }

  private async claim(limit: number): Promise<[string, unknown][]> {
    const reply = await this.scripts.claimBatches(
      [
        this.keys.pushDue(),
        this.keys.pushBatches(),
        this.keys.pushLeases(),
        this.keys.pushClaims(),
      ],
      [
        Date.now(),
        this.options.leaseMs,
        limit,
        `${this.options.nodeId}:${randomUUID()}`,
      ],
    );
    if (!Array.isArray(reply) || reply.length % 2 !== 0) {
      throw new TypeError(
        "Unexpected reply from the claim batches script: expected pairs of claim id and record",
      );
    }
    const claims: [string, unknown][] = [];
    for (let index = 0; index < reply.length; index += 2) {
      claims.push([String(reply[index]), reply[index + 1]]);
    }
    return claims;
  }

  /**
   * Runs the handler for one claim and releases the claim when it settles.
   * A record that does not parse is reported and released, so it is not
   * claimed again and again.
   */
  private dispatch(handler: DueHandler, claimId: string, record: unknown) {
    let batch: PushBatch;
    try {
      batch = parsePushBatchRecord(record);
    } catch (error) {
      this.report(error);
      void this.release(claimId);
      return;
    }

    this.runningClaims.add(claimId);
    void (async () => {
      try {
        await handler(batch);
      } catch (error) {
        this.report(error);
      } finally {
        this.runningClaims.delete(claimId);
        // A poll that stopped for want of handler slots resumes now.
        if (this.backlog && this.timer && !this.polling) this.schedulePoll(0);
        await this.release(claimId);
      }
    })();
  }

  /**
   * Deletes a claim. A claim that expired and was taken by another node has
   * a new id by then, so this deletes nothing of that node's. Claims
   * released in the same event loop turn are deleted in one transaction,
   * so a wave of settled handlers costs a few round trips, not one each.
   */
  private release(claimId: string): Promise<void> {
    return new Promise((resolve) => {
      this.releasing.push({ claimId, done: resolve });
      if (this.releasing.length === 1) {
        setImmediate(() => void this.releasePending());
      }
    });
  }

  private async releasePending() {
    const pending = this.releasing;
    this.releasing = [];
    const claimIds = pending.map((entry) => entry.claimId);
    try {
      pipelineReplies(
        await this.redis
          .multi()
          .hdel(this.keys.pushClaims(), ...claimIds)
          .zrem(this.keys.pushLeases(), ...claimIds)
          .exec(),
      );
    } catch (error) {
      // The leases expire and another poll hands the batches out again.
      this.report(error);
    } finally {
      for (const entry of pending) entry.done();
    }
  }

  private report(error: unknown) {
    try {
      this.options.onError?.(error);
    } catch {
      // A throwing callback must not stop the poll loop.
    }
  }
}
