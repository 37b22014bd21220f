import type {
  AttentionChange,
  AttentionService,
} from "../attention/service.js";
import { isViewing } from "../attention/viewing.js";
import type { PushConfig } from "../config.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type {
  ChatMessage,
  Preferences,
  PushDecisionReason,
} from "../protocol/index.js";
import type {
  Conversation,
  PushBatch,
  PushDecision,
  PushItem,
  PushStores,
  Stores,
} from "../stores/types.js";
import { pushBatchKey } from "./batch.js";
import { batchIdempotencyKey } from "./idempotency.js";
import { renderMessagePush } from "./message-template.js";
import { PushCoalescer } from "./coalescer.js";
import {
  checkRenderedRequest,
  notificationRequestSchema,
  type NotificationRequest,
} from "./onesignal/schema.js";
import { fitNotification } from "./onesignal/fit.js";
import type { PushSender, SendOutcome } from "./onesignal/sender.js";
import { isMuted, isQuiet } from "./preferences.js";

/** Window of PUSH_MAX_PER_USER_PER_MINUTE, in ms. */
const BUDGET_WINDOW_MS = 60_000;
/** Seen messages coalesced into one suppressed_viewing decision at most. */
const SEEN_FLUSH_COUNT = 100;
/** Time in ms after the first seen message at which its decision is recorded. */
const SEEN_FLUSH_MS = 1000;
/** Newest unseen messages fetched to render a push. */
const MESSAGES_RENDERED = 20;
/** Rendered push texts kept for recipients of the same messages; the cache is emptied when full. */
const RENDERED_TEXTS_KEPT = 1000;

/** Messages a viewing device acked, recorded as one suppressed_viewing decision. */
interface SeenPending {
  count: number;
  lastItemId: string;
  timer: NodeJS.Timeout;
}

export type BatchHandler = (batch: PushBatch) => Promise<void>;

export interface PushServiceDeps {
  config: PushConfig;
  stores: Stores;
  pushStores: PushStores;
  attention: AttentionService;
  sender: PushSender;
  logger: Logger;
  metrics: Metrics;
}

/** Identifier that keeps collapse_id, thread_id and android_group within 64 characters. */
export function conversationThreadId(conversationId: string): string {
  return `chat_${conversationId}`.slice(0, 64);
}

/**
 * Decides, batches and sends message pushes. A recipient who is not viewing
 * a conversation gets its messages added to a debounced batch. When the batch
 * is due, the decision is checked again against the read position,
 * attention, preferences and budget, and at most one push goes out.
 */
export class PushService {
  private readonly timing: { debounceMs: number; maxWaitMs: number };
  private readonly handlers = new Map<PushBatch["kind"], BatchHandler>();
  private readonly coalescer: PushCoalescer;
  /** Push texts by conversation, last seq and count. */
  private readonly renderedTexts = new Map<
    string,
    { heading: string; content: string }
  >();
  /** Seen messages not yet recorded, by recipient, then by conversation. */
  private readonly seenPending = new Map<string, Map<string, SeenPending>>();

  constructor(private readonly deps: PushServiceDeps) {
    this.timing = {
      debounceMs: deps.config.debounceMs,
      maxWaitMs: deps.config.maxWaitMs,
    };
    this.handlers.set("message", (batch) => this.fireMessageBatch(batch));
    this.coalescer = new PushCoalescer((request) => this.sendRendered(request));
  }

  start(): void {
    this.deps.pushStores.queue.start((batch) => this.fire(batch));
    this.deps.attention.onChange((change) => {
      this.onAttentionChange(change).catch((error: unknown) =>
        this.deps.logger.error(
          { err: error, userId: change.userId, socketId: change.socketId },
          "push update after attention change failed",
        ),
      );
    });
  }

  /**
   * Adds a message to the recipient's pending batch for its conversation.
   * The debounce starts at `startAt`, by default at the message's creation
   * (see debounceStart), so every recipient of one message falls due at
   * the same millisecond and their pushes can share one request.
   */
  async schedule(
    recipientId: string,
    message: ChatMessage,
    startAt?: number,
  ): Promise<void> {
    const item: PushItem = {
      id: message.id,
      seq: message.seq,
      actorId: message.senderId,
      actorName: message.senderName,
      // The text is read again from history when the batch fires.
      text: null,
      at:
        startAt ??
        debounceStart(message.createdAt, Date.now(), this.timing.debounceMs),
    };
    await this.deps.pushStores.queue.add(
      {
        kind: "message",
        recipientId,
        topic: message.conversationId,
        item,
        meta: {},
      },
      this.timing,
      item.at,
    );
  }

  /**
   * Records that a viewing device acknowledged the message, so no push is
   * scheduled now. The read position, not the ack, decides what counts as
   * seen when the device later leaves the conversation.
   *
   * A chat on screen acks every message, so these decisions are coalesced
   * per recipient and conversation: one log entry with the count covers up
   * to SEEN_FLUSH_COUNT messages or SEEN_FLUSH_MS, which keeps a store write
   * off each message.
   */
  recordSeen(recipientId: string, message: ChatMessage): void {
    const conversationId = message.conversationId;
    let byConversation = this.seenPending.get(recipientId);
    const pending = byConversation?.get(conversationId);
    if (pending) {
      pending.count += 1;
      pending.lastItemId = message.id;
      if (pending.count >= SEEN_FLUSH_COUNT) {
        this.flushSeen(recipientId, conversationId);
      }
      return;
    }
    if (!byConversation) {
      byConversation = new Map();
      this.seenPending.set(recipientId, byConversation);
    }
    const timer = setTimeout(
      () => this.flushSeen(recipientId, conversationId),
      SEEN_FLUSH_MS,
    );
    timer.unref();
    byConversation.set(conversationId, {
      count: 1,
      lastItemId: message.id,
      timer,
    });
  }

  private flushSeen(recipientId: string, conversationId: string): void {
    const byConversation = this.seenPending.get(recipientId);
    const pending = byConversation?.get(conversationId);
    if (!byConversation || !pending) return;
    byConversation.delete(conversationId);
    if (byConversation.size === 0) this.seenPending.delete(recipientId);
    clearTimeout(pending.timer);
    this.record({
      userId: recipientId,
      kind: "message",
      topic: conversationId,
      reason: "suppressed_viewing",
      count: pending.count,
      lastItemId: pending.lastItemId,
    }).catch((error: unknown) =>
      this.deps.logger.error(
        { err: error, recipientId, conversationId },
        "recording seen messages failed",
      ),
    );
  }

  /** Cancels the pending push of a conversation once the user has read all of it. */
  async onRead(
    userId: string,
    conversationId: string,
    readSeq: number,
  ): Promise<void> {
    const key = pushBatchKey("message", userId, conversationId);
    if (await this.deps.pushStores.queue.cancel(key, readSeq)) {
      this.deps.logger.debug(
        { userId, conversationId, readSeq },
        "pending push cancelled by read",
      );
    }
  }

  /**
   * Opening a conversation on screen cancels its pending push. A viewing
   * device that leaves it (background, idle, another conversation or a
   * disconnect) schedules the messages that are still unread, unless another
   * device of the user is viewing it.
   */
  private async onAttentionChange(change: AttentionChange): Promise<void> {
    const { before, after, userId } = change;
    const opened =
      after?.openConversationId && isViewing(after, after.openConversationId)
        ? after.openConversationId
        : null;
    if (opened) {
      await this.deps.pushStores.queue.cancel(
        pushBatchKey("message", userId, opened),
      );
    }
    const left =
      before?.openConversationId && isViewing(before, before.openConversationId)
        ? before.openConversationId
        : null;
    if (!left || left === opened) return;
    if (await this.deps.attention.isUserViewing(userId, left)) return;

    const key = pushBatchKey("message", userId, left);
    const [[readSeq], settledSeq, [last]] = await Promise.all([
      this.deps.stores.reads.getReadSeqs(userId, [left]),
      this.deps.pushStores.queue.getSettledSeq(key),
      this.deps.stores.messages.lastMessages([left]),
    ]);
    if (!last || last.seq <= Math.max(readSeq ?? 0, settledSeq)) return;
    this.deps.logger.debug(
      { userId, conversationId: left, lastSeq: last.seq, readSeq },
      "viewer left with unread messages; scheduling a push",
    );
    // The debounce starts now, not when the unread message was created.
    await this.schedule(userId, last, Date.now());
  }

  /** Sets the handler of due batches of `kind`; messages are handled here. */
  handleKind(kind: PushBatch["kind"], handler: BatchHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Handles a due batch; never throws, so the queue always moves on. */
  private async fire(batch: PushBatch): Promise<void> {
    try {
      const handler = this.handlers.get(batch.kind);
      if (!handler) throw new Error(`no handler for ${batch.kind} batches`);
      await handler(batch);
    } catch (error) {
      this.deps.logger.error(
        { err: error, recipientId: batch.recipientId, topic: batch.topic },
        "push batch failed",
      );
      await this.record({
        userId: batch.recipientId,
        kind: batch.kind,
        topic: batch.topic,
        reason: "failed",
        count: batch.count,
        lastItemId: batch.items.at(-1)?.id ?? "",
        detail: "internal error",
      }).catch(() => undefined);
    }
  }

  private async fireMessageBatch(batch: PushBatch): Promise<void> {
    const { stores, pushStores, attention } = this.deps;
    const recipientId = batch.recipientId;
    const conversationId = batch.topic;
    const now = Date.now();

    const [conversation, [readSeq = 0], settledSeq] = await Promise.all([
      stores.conversations.get(conversationId),
      stores.reads.getReadSeqs(recipientId, [conversationId]),
      pushStores.queue.getSettledSeq(batch.key),
    ]);
    if (!conversation) return;
    const base = {
      userId: recipientId,
      kind: "message" as const,
      topic: conversationId,
      lastItemId: batch.items.at(-1)?.id ?? "",
    };
    const seenUpTo = Math.max(readSeq, settledSeq);
    if (batch.lastSeq <= seenUpTo) {
      await this.record({
        ...base,
        reason: "suppressed_read",
        count: batch.count,
      });
      return;
    }

    const newest = await stores.messages.range(conversationId, {
      limit: MESSAGES_RENDERED,
    });
    const unseen = newest.messages.filter(
      (message) => message.seq > seenUpTo && message.senderId !== recipientId,
    );
    const last = unseen.at(-1);
    if (!last) {
      await this.record({
        ...base,
        reason: "suppressed_read",
        count: batch.count,
      });
      return;
    }
    // Sending marks the sender's read position, so every message after it is from others.
    const count = last.seq - seenUpTo;
    const settled = { ...base, lastItemId: last.id, count };

    if (await attention.isUserViewing(recipientId, conversationId)) {
      await this.settle(batch.key, last.seq, {
        ...settled,
        reason: "suppressed_viewing",
      });
      return;
    }
    await this.deliver(batch, {
      decision: settled,
      settleSeq: last.seq,
      blockedBy: (preferences) =>
        isMuted(preferences, conversationId, now) ? "muted" : null,
      buildRequest: () =>
        this.buildMessageRequest(conversation, recipientId, unseen, count),
      // The request follows from the conversation, its last message and the count.
      coalesceKey: `message\u0000${last.seq}\u0000${count}`,
    });
  }

  /**
   * Finishes a due batch of any kind once its own checks passed: push off,
   * the kind's `blockedBy` rule, quiet time and the budget, then the send.
   * A batch over budget is put back until the budget frees. Every path
   * records one decision; every path but the budget one settles the batch.
   *
   * With `coalesceKey`, the request must be built by this server from
   * cleaned text, so it is checked with checkRenderedRequest instead of the
   * zod schema. It may then share one OneSignal request with other
   * recipients whose request has the same key and topic (see PushCoalescer).
   */
  async deliver(
    batch: PushBatch,
    options: {
      decision: Omit<PushDecision, "at" | "reason">;
      /** Seq to settle the batch's key at; 0 for kinds without seqs. */
      settleSeq: number;
      blockedBy: (preferences: Preferences) => PushDecisionReason | null;
      buildRequest: () => NotificationRequest;
      /** Equal for two pushes of one topic exactly when their requests differ only in the recipient. */
      coalesceKey?: string;
    },
  ): Promise<void> {
    const { pushStores, config } = this.deps;
    const now = Date.now();
    const { decision, settleSeq } = options;
    const preferences = await pushStores.preferences.get(batch.recipientId);
    const blocked: PushDecisionReason | null = !preferences.pushEnabled
      ? "push_disabled"
      : (options.blockedBy(preferences) ??
        (isQuiet(preferences, now) ? "quiet_period" : null));
    if (blocked) {
      await this.settle(batch.key, settleSeq, { ...decision, reason: blocked });
      return;
    }

    const budget = await pushStores.budget.take(
      batch.recipientId,
      config.maxPerUserPerMinute,
      BUDGET_WINDOW_MS,
      now,
    );
    if (!budget.allowed) {
      const dueAt = now + budget.retryAfterMs;
      await pushStores.queue.defer(batch, dueAt);
      await this.record({
        ...decision,
        reason: "budget_exceeded",
        detail: `deferred until ${new Date(dueAt).toISOString()}`,
      });
      return;
    }

    const request = options.buildRequest();
    const outcome =
      options.coalesceKey !== undefined
        ? await this.coalescer.send({
            request,
            topic: decision.topic,
            lastItemId: decision.lastItemId,
            groupKey: options.coalesceKey,
          })
        : await this.send(request);
    await this.settle(batch.key, settleSeq, {
      ...decision,
      ...decisionOf(outcome),
    });
  }

  private buildMessageRequest(
    conversation: Conversation,
    recipientId: string,
    unseen: ChatMessage[],
    count: number,
  ): NotificationRequest {
    const last = unseen.at(-1)!;
    // Recipients with the same unread messages get the same text, rendered once.
    const renderKey = `${conversation.id}\u0000${last.seq}\u0000${count}`;
    let rendered = this.renderedTexts.get(renderKey);
    if (!rendered) {
      rendered = renderMessagePush({
        conversationKind: conversation.kind,
        conversationTitle: conversation.title,
        messages: unseen,
        count,
        includeContent: this.deps.config.includeContent,
      });
      if (this.renderedTexts.size >= RENDERED_TEXTS_KEPT) {
        this.renderedTexts.clear();
      }
      this.renderedTexts.set(renderKey, rendered);
    }
    const { heading, content } = rendered;
    const threadId = conversationThreadId(conversation.id);
    return {
      app_id: this.deps.config.oneSignal?.appId ?? DRY_RUN_APP_ID,
      target_channel: "push",
      include_aliases: { external_id: [recipientId] },
      headings: { en: heading },
      contents: { en: content },
      data: {
        type: "message",
        conversation_id: conversation.id,
        sender_id: last.senderId,
        message_id: last.id,
        seq: last.seq,
        count,
        click_action: "open_chat",
      },
      collapse_id: threadId,
      thread_id: threadId,
      android_group: threadId,
      priority: 10,
      idempotency_key: batchIdempotencyKey(
        recipientId,
        conversation.id,
        last.id,
      ),
    };
  }

  /**
   * Shortens the request to OneSignal's size limit, validates it with the
   * strict zod schema, then sends it. For requests built from parts that
   * this server did not clean, such as an app backend's activity report.
   */
  async send(request: NotificationRequest): Promise<SendOutcome> {
    const valid = notificationRequestSchema.safeParse(fitNotification(request));
    if (!valid.success) {
      return this.rejectInvalid(
        request,
        valid.error.issues[0]?.message ?? "unknown",
      );
    }
    return this.deps.sender.send(valid.data);
  }

  /** Sends a request rendered by this server, with the cheaper checkRenderedRequest in place of the zod parse. */
  private async sendRendered(
    request: NotificationRequest,
  ): Promise<SendOutcome> {
    const fitted = fitNotification(request);
    const problem = checkRenderedRequest(fitted);
    if (problem) return this.rejectInvalid(request, problem);
    return this.deps.sender.send(fitted);
  }

  private rejectInvalid(
    request: NotificationRequest,
    problem: string,
  ): SendOutcome {
    const detail = `invalid push request: ${problem}`;
    this.deps.logger.error(
      {
        recipientId: request.include_aliases.external_id[0],
        recipients: request.include_aliases.external_id.length,
        detail,
      },
      "push request failed validation; not sent",
    );
    return { status: "failed", detail };
  }

  async settle(
    key: string,
    seq: number,
    decision: Omit<PushDecision, "at">,
  ): Promise<void> {
    await this.deps.pushStores.queue.settle(key, seq);
    await this.record(decision);
  }

  async record(decision: Omit<PushDecision, "at">): Promise<void> {
    const entry: PushDecision = { at: new Date().toISOString(), ...decision };
    this.deps.metrics.pushDecisions.inc(
      { kind: entry.kind, reason: entry.reason },
      entry.count,
    );
    this.deps.logger.info(
      {
        recipientId: entry.userId,
        topic: entry.topic,
        reason: entry.reason,
        count: entry.count,
        lastItemId: entry.lastItemId,
        notificationId: entry.notificationId,
        detail: entry.detail,
      },
      "push decision",
    );
    await this.deps.pushStores.decisions.record(entry);
  }

  async close(): Promise<void> {
    for (const [recipientId, byConversation] of [...this.seenPending]) {
      for (const conversationId of [...byConversation.keys()]) {
        this.flushSeen(recipientId, conversationId);
      }
    }
    await this.deps.pushStores.queue.close();
    this.coalescer.flushAll();
    this.deps.sender.close();
  }
}

/**
 * Returns the start of a message's debounce: its creation time, or `now`
 * when the creation time lies in the future (another node's clock) or a
 * full debounce ago.
 */
export function debounceStart(
  createdAt: string,
  now: number,
  debounceMs: number,
): number {
  const created = Date.parse(createdAt);
  if (!Number.isFinite(created) || created > now) return now;
  return now - created < debounceMs ? created : now;
}

/** app_id used in dry-run requests, so they pass the same schema as real ones. */
export const DRY_RUN_APP_ID = "00000000-0000-4000-8000-000000000000";

/** Maps a send outcome to the decision log's reason and details. */
export function decisionOf(
  outcome: SendOutcome,
): Pick<PushDecision, "reason" | "notificationId" | "detail"> {
  switch (outcome.status) {
    case "sent":
      return {
        reason: "sent",
        notificationId: outcome.notificationId,
        ...(outcome.detail ? { detail: outcome.detail } : {}),
      };
    case "not_subscribed":
      return { reason: "not_subscribed", detail: outcome.detail };
    case "failed":
      return { reason: "failed", detail: outcome.detail };
  }
}
