import { randomUUID } from "node:crypto";
import type { Logger } from "../observability/logger.js";
import type { NotificationRequest } from "./onesignal/schema.js";
import type { PushSender, SendOutcome } from "./onesignal/sender.js";

export interface OutboxEntry {
  /** ISO time the push was recorded. */
  at: string;
  notificationId: string;
  request: NotificationRequest;
}

/** Pushes kept in the outbox; older ones are dropped first. */
const OUTBOX_LIMIT = 500;

/**
 * Stand-in sender used when no OneSignal credentials are configured: it
 * records each push, as OneSignal would receive it, and logs it. A repeated
 * idempotency_key is recorded once, as OneSignal would send it once.
 */
export class DryRunOutbox implements PushSender {
  readonly mode = "dry-run" as const;
  private readonly entries: OutboxEntry[] = [];
  private readonly byKey = new Map<string, string>();

  constructor(private readonly logger: Logger) {}

  async send(request: NotificationRequest): Promise<SendOutcome> {
    const known = this.byKey.get(request.idempotency_key);
    if (known)
      return {
        status: "sent",
        notificationId: known,
        detail: "idempotent replay",
      };

    const notificationId = randomUUID();
    this.entries.push({
      at: new Date().toISOString(),
      notificationId,
      request,
    });
    this.byKey.set(request.idempotency_key, notificationId);
    if (this.entries.length > OUTBOX_LIMIT) {
      const dropped = this.entries.shift()!;
      this.byKey.delete(dropped.request.idempotency_key);
    }
    this.logger.info(
      {
        recipientId: request.include_aliases.external_id[0],
        recipients: request.include_aliases.external_id.length,
        notificationId,
        collapseId: request.collapse_id,
        heading: request.headings.en,
      },
      "dry-run push recorded",
    );
    return { status: "sent", notificationId };
  }

  /** Newest first; only the given recipient's when `recipientId` is set. */
  list(recipientId?: string, limit = 100): OutboxEntry[] {
    return this.entries
      .filter(
        (entry) =>
          recipientId === undefined ||
          entry.request.include_aliases.external_id.includes(recipientId),
      )
      .slice(-limit)
      .reverse();
  }

  close(): void {}
}
