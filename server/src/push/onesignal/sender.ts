import type { NotificationRequest } from "./schema.js";

/** Outcome of handing one notification request to OneSignal, after any retries. */
export type SendOutcome =
  | {
      status: "sent";
      notificationId: string;
      detail?: string;
      /**
       * Recipients that OneSignal listed in `errors.invalid_aliases.external_id`:
       * the request was sent, but not to them, because they have no push
       * subscription. Absent when every recipient was valid.
       */
      invalidExternalIds?: string[];
    }
  | { status: "not_subscribed"; detail: string }
  | { status: "failed"; detail: string; httpStatus?: number };

/** Something that delivers a push request: the OneSignal client or the dry-run outbox. */
export interface PushSender {
  readonly mode: "onesignal" | "dry-run";
  send(request: NotificationRequest): Promise<SendOutcome>;
  /** Stops retry timers; pending sends resolve as failed. */
  close(): void;
}
