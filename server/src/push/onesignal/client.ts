import type { Logger } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import { JsonPoster, type PostResponse } from "./http.js";
import {
  notificationResponseSchema,
  type NotificationRequest,
} from "./schema.js";
import type { PushSender, SendOutcome } from "./sender.js";

export interface OneSignalOptions {
  appId: string;
  restApiKey: string;
  /** Base URL without trailing slash, such as https://api.onesignal.com. */
  apiUrl: string;
  requestTimeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  /** Keep-alive connections to the API; further requests wait for one. */
  maxConnections: number;
}

/** Maximum delay between retries in ms, whatever Retry-After or the backoff requests. */
const MAX_RETRY_DELAY_MS = 60_000;

type Attempt =
  | { done: true; outcome: SendOutcome }
  | { done: false; reason: string; retryAfterMs?: number };

/** Formats `errors` of a OneSignal response, an array or an object, as one line. */
function describeErrors(errors: unknown): string {
  if (errors === undefined || errors === null) return "";
  return typeof errors === "string" ? errors : JSON.stringify(errors);
}

/**
 * External ids of `errors.invalid_aliases.external_id`, which OneSignal
 * returns with a 200 and a notification id when some recipients have no
 * push subscription. Returns an empty list for any other shape of `errors`.
 */
function invalidExternalIds(errors: unknown): string[] {
  if (typeof errors !== "object" || errors === null || Array.isArray(errors)) {
    return [];
  }
  const aliases = (errors as { invalid_aliases?: unknown }).invalid_aliases;
  if (typeof aliases !== "object" || aliases === null) return [];
  const ids = (aliases as { external_id?: unknown }).external_id;
  return Array.isArray(ids)
    ? ids.filter((id): id is string => typeof id === "string")
    : [];
}

/** `errors` without its `invalid_aliases` entry; undefined when nothing else is left. */
function withoutInvalidAliases(errors: unknown): unknown {
  if (typeof errors !== "object" || errors === null || Array.isArray(errors)) {
    return errors;
  }
  const { invalid_aliases: _invalid, ...rest } = errors as Record<
    string,
    unknown
  >;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
function parseRetryAfter(
  header: string | null,
  now: number,
): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Sends pushes through OneSignal's REST API. 429, 5xx, timeouts and network
 * errors are retried with exponential backoff (or Retry-After) up to
 * `maxRetries` times, always with the same body, so the request's
 * idempotency_key makes OneSignal send it at most once.
 */
export class OneSignalSender implements PushSender {
  readonly mode = "onesignal" as const;
  private readonly controller = new AbortController();
  private readonly poster: JsonPoster;

  constructor(
    private readonly options: OneSignalOptions,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.poster = new JsonPoster(options.apiUrl, options.maxConnections);
  }

  async send(request: NotificationRequest): Promise<SendOutcome> {
    const body = JSON.stringify({ ...request, app_id: this.options.appId });
    const recipients = request.include_aliases.external_id;
    const ids = {
      recipientId: recipients[0],
      recipients: recipients.length,
      idempotencyKey: request.idempotency_key,
    };
    for (let attempt = 0; ; attempt++) {
      const result = await this.attempt(body);
      if (result.done) return result.outcome;
      if (
        attempt >= this.options.maxRetries ||
        this.controller.signal.aborted
      ) {
        this.logger.error(
          { ...ids, attempts: attempt + 1, reason: result.reason },
          "OneSignal request failed; giving up",
        );
        return { status: "failed", detail: result.reason };
      }
      const backoff = this.options.retryBaseMs * 2 ** attempt;
      const jitter = Math.random() * this.options.retryBaseMs;
      const delay = Math.min(
        result.retryAfterMs ?? backoff + jitter,
        MAX_RETRY_DELAY_MS,
      );
      this.metrics.oneSignalRetries.inc();
      this.logger.warn(
        {
          ...ids,
          attempt: attempt + 1,
          delayMs: Math.round(delay),
          reason: result.reason,
        },
        "OneSignal request failed; retrying",
      );
      await this.sleep(delay);
    }
  }

  close(): void {
    this.controller.abort();
    this.poster.close();
  }

  private async attempt(body: string): Promise<Attempt> {
    const started = performance.now();
    let response: PostResponse;
    try {
      response = await this.poster.post(
        "/notifications",
        {
          authorization: `Key ${this.options.restApiKey}`,
          "content-type": "application/json; charset=utf-8",
          accept: "application/json",
        },
        body,
        this.options.requestTimeoutMs,
        this.controller.signal,
      );
    } catch (error) {
      this.metrics.oneSignalRequests.inc({ outcome: "retryable" });
      const name = (error as Error).name;
      const reason =
        name === "TimeoutError"
          ? `timed out after ${this.options.requestTimeoutMs} ms`
          : `network error: ${(error as Error).message}`;
      return { done: false, reason };
    } finally {
      this.metrics.oneSignalLatency.observe(
        (performance.now() - started) / 1000,
      );
    }
    return this.interpret(response);
  }

  private interpret(response: PostResponse): Attempt {
    const text = response.text;
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // A non-JSON body (an HTML error page from a proxy) is judged by status alone.
    }
    const status = response.status;
    if (status === 429 || status >= 500) {
      this.metrics.oneSignalRequests.inc({ outcome: "retryable" });
      return {
        done: false,
        reason:
          `HTTP ${status} ${describeErrors((json as { errors?: unknown } | null)?.errors)}`.trim(),
        retryAfterMs: parseRetryAfter(response.retryAfter, Date.now()),
      };
    }
    if (status !== 200) {
      this.metrics.oneSignalRequests.inc({ outcome: "rejected" });
      const detail = `HTTP ${status}: ${describeErrors((json as { errors?: unknown } | null)?.errors) || text.slice(0, 200)}`;
      return {
        done: true,
        outcome: { status: "failed", detail, httpStatus: status },
      };
    }
    const parsed = notificationResponseSchema.safeParse(json);
    if (!parsed.success) {
      this.metrics.oneSignalRequests.inc({ outcome: "rejected" });
      return {
        done: true,
        outcome: {
          status: "failed",
          detail: "HTTP 200 with an unreadable body",
          httpStatus: 200,
        },
      };
    }
    const errors = describeErrors(parsed.data.errors);
    if (parsed.data.id) {
      this.metrics.oneSignalRequests.inc({ outcome: "sent" });
      const invalid = invalidExternalIds(parsed.data.errors);
      // The invalid ids become per-recipient outcomes, so the detail keeps only the other errors.
      const otherErrors = describeErrors(
        withoutInvalidAliases(parsed.data.errors),
      );
      return {
        done: true,
        outcome: {
          status: "sent",
          notificationId: parsed.data.id,
          ...(otherErrors ? { detail: otherErrors } : {}),
          ...(invalid.length > 0 ? { invalidExternalIds: invalid } : {}),
        },
      };
    }
    this.metrics.oneSignalRequests.inc({ outcome: "not_subscribed" });
    return {
      done: true,
      outcome: {
        status: "not_subscribed",
        detail: errors || "no notification id returned",
      },
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.controller.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}
