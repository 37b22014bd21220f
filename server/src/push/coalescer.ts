import { coalescedIdempotencyKey } from "./idempotency.js";
import {
  ONESIGNAL_LIMITS,
  type NotificationRequest,
} from "./onesignal/schema.js";
import type { SendOutcome } from "./onesignal/sender.js";

/**
 * Time in ms that a group of identical notifications stays open after its
 * newest push. The batches of one conversation fall due within a few ms of
 * each other, because one message fan-out scheduled them, and their
 * decisions follow one another, so a 5 ms gap means the group is complete.
 */
export const COALESCE_IDLE_MS = 5;
/**
 * Maximum time in ms a group stays open after its first push, however
 * steadily pushes keep joining it, so coalescing adds at most this much to
 * a push's lateness.
 */
export const COALESCE_MAX_WAIT_MS = 50;

/** Notification to one recipient, with what identifies the batch it settles. */
export interface CoalescedPush {
  /** A request whose include_aliases lists exactly one external id. */
  request: NotificationRequest;
  /** Conversation or activity topic of the batch. */
  topic: string;
  /** Newest item the push covers. */
  lastItemId: string;
  /**
   * String that is equal for two pushes exactly when their requests are
   * equal apart from include_aliases and idempotency_key. Without it the
   * request's JSON is the key.
   */
  groupKey?: string;
}

interface Group {
  /** The first request of the group; only its recipient differs from the others. */
  template: NotificationRequest;
  topic: string;
  lastItemId: string;
  /** Callers per recipient; a recipient added twice gets the one outcome twice. */
  waiting: Map<string, ((outcome: SendOutcome) => void)[]>;
  /** performance.now() of the first and the newest push. */
  openedAt: number;
  joinedAt: number;
  timer: NodeJS.Timeout | null;
}

export interface CoalescerTiming {
  idleMs: number;
  maxWaitMs: number;
}

/**
 * Merges pushes whose notifications are identical except for the recipient
 * into one request with up to ONESIGNAL_LIMITS.aliasesPerRequest external
 * ids, and splits the one response into an outcome per recipient.
 *
 * A group is sent once COALESCE_IDLE_MS pass without a new push, or
 * COALESCE_MAX_WAIT_MS after its first push, or at once when it is full. Notifications count as identical when their JSON without
 * include_aliases and idempotency_key is equal, so a push whose heading,
 * contents, count, data or app differs gets a request of its own.
 */
export class PushCoalescer {
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly sendRequest: (
      request: NotificationRequest,
    ) => Promise<SendOutcome>,
    private readonly timing: CoalescerTiming = {
      idleMs: COALESCE_IDLE_MS,
      maxWaitMs: COALESCE_MAX_WAIT_MS,
    },
  ) {}

  /** Adds the push to its group and resolves with its recipient's outcome once OneSignal responds to the group's request. */
  send(push: CoalescedPush): Promise<SendOutcome> {
    const recipientId = push.request.include_aliases.external_id[0];
    if (push.request.include_aliases.external_id.length !== 1 || !recipientId) {
      return Promise.resolve({
        status: "failed",
        detail: "a coalesced push must target exactly one external_id",
      });
    }
    const key = groupKey(push);
    const now = performance.now();
    let group = this.groups.get(key);
    if (!group) {
      group = {
        template: push.request,
        topic: push.topic,
        lastItemId: push.lastItemId,
        waiting: new Map(),
        openedAt: now,
        joinedAt: now,
        timer: null,
      };
      this.groups.set(key, group);
      this.arm(key, group, this.timing.idleMs);
    }
    group.joinedAt = now;
    const outcome = new Promise<SendOutcome>((resolve) => {
      const callers = group.waiting.get(recipientId);
      if (callers) callers.push(resolve);
      else group.waiting.set(recipientId, [resolve]);
    });
    if (group.waiting.size >= ONESIGNAL_LIMITS.aliasesPerRequest) {
      this.flush(key, group);
    }
    return outcome;
  }

  /** Sends every waiting group now, as close() of the push service does. */
  flushAll(): void {
    for (const [key, group] of [...this.groups]) this.flush(key, group);
  }

  /**
   * Arms the group's timer. When it fires, a group that got a push in the
   * last idleMs and is younger than maxWaitMs is re-armed for the rest,
   * which is cheaper than restarting a timer on every push.
   */
  private arm(key: string, group: Group, delayMs: number): void {
    group.timer = setTimeout(() => {
      group.timer = null;
      const now = performance.now();
      const idleLeft = group.joinedAt + this.timing.idleMs - now;
      const maxLeft = group.openedAt + this.timing.maxWaitMs - now;
      const left = Math.min(idleLeft, maxLeft);
      if (left >= 1) this.arm(key, group, left);
      else this.flush(key, group);
    }, delayMs);
  }

  private flush(key: string, group: Group): void {
    if (group.timer) clearTimeout(group.timer);
    group.timer = null;
    // A full group is replaced by a new one, whose timer must not end it.
    if (this.groups.get(key) === group) this.groups.delete(key);
    void this.sendGroup(group);
  }

  private async sendGroup(group: Group): Promise<void> {
    const recipients = [...group.waiting.keys()].sort();
    const request: NotificationRequest = {
      ...group.template,
      include_aliases: { external_id: recipients },
      idempotency_key:
        recipients.length === 1
          ? group.template.idempotency_key
          : coalescedIdempotencyKey(recipients, group.topic, group.lastItemId),
    };
    let outcome: SendOutcome;
    try {
      outcome = await this.sendRequest(request);
    } catch (error) {
      outcome = {
        status: "failed",
        detail: `internal error: ${(error as Error).message}`,
      };
    }
    const invalid = new Set(
      outcome.status === "sent" ? (outcome.invalidExternalIds ?? []) : [],
    );
    for (const [recipientId, callers] of group.waiting) {
      const own = recipientOutcome(outcome, invalid.has(recipientId));
      for (const resolve of callers) resolve(own);
    }
  }
}

/** Identity of a notification without its recipient and the key derived from it. */
function groupKey(push: CoalescedPush): string {
  if (push.groupKey !== undefined) {
    return `${push.topic}\u0000${push.lastItemId}\u0000${push.groupKey}`;
  }
  const {
    include_aliases: _aliases,
    idempotency_key: _key,
    ...rest
  } = push.request;
  return `${push.topic}\u0000${push.lastItemId}\u0000${JSON.stringify(rest)}`;
}

/** Outcome of one recipient of a request: a recipient listed in invalid_aliases was not sent to. */
function recipientOutcome(outcome: SendOutcome, invalid: boolean): SendOutcome {
  if (outcome.status !== "sent") return outcome;
  if (invalid) {
    return {
      status: "not_subscribed",
      detail:
        "listed in errors.invalid_aliases: no push subscription for this external_id",
    };
  }
  return {
    status: "sent",
    notificationId: outcome.notificationId,
    ...(outcome.detail ? { detail: outcome.detail } : {}),
  };
}
