/**
 * Error codes shared by acks and HTTP responses. Clients switch on `code`;
 * `message` is for people and may change wording between releases.
 */
export const ERROR_CODES = [
  "invalid_payload",
  "unauthorized",
  "forbidden",
  "not_found",
  "rate_limited",
  "payload_too_large",
  "unavailable",
  "internal",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Milliseconds to wait before retrying, set with `rate_limited`. */
  retryAfterMs?: number;
}

/** HTTP status that each code maps to on the server-to-server API. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_payload: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  rate_limited: 429,
  payload_too_large: 413,
  unavailable: 503,
  internal: 500,
};

/** An error that is safe to show to a client: a stable code and a plain message. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, retryAfterMs?: number) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.retryAfterMs !== undefined) body.retryAfterMs = this.retryAfterMs;
    return body;
  }
}
