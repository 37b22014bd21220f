import type { ErrorRequestHandler, RequestHandler, Response } from "express";
import type { z } from "zod";
import type { Logger } from "../observability/logger.js";
import { AppError, HTTP_STATUS } from "../protocol/index.js";
import { toErrorBody } from "../realtime/errors.js";
import { describeIssue } from "../realtime/handle.js";

export function sendError(res: Response, error: AppError): void {
  if (error.retryAfterMs !== undefined)
    res.setHeader("Retry-After", Math.ceil(error.retryAfterMs / 1000));
  res.status(HTTP_STATUS[error.code]).json({ error: error.toBody() });
}

/** Parses `value` with `schema` or throws an invalid_payload AppError naming the field. */
export function parseBody<T extends z.ZodType>(
  schema: T,
  value: unknown,
): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new AppError("invalid_payload", describeIssue(parsed.error));
  return parsed.data;
}

export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(
    res,
    new AppError("not_found", `No route for ${req.method} ${req.path}`),
  );
};

/**
 * Last Express handler: maps body-parser failures and AppErrors to their
 * codes and hides everything else behind `internal`.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) return;
    if (error instanceof AppError) {
      sendError(res, error);
      return;
    }
    const type = (error as { type?: string }).type;
    if (type === "entity.too.large") {
      sendError(
        res,
        new AppError("payload_too_large", "Request body is too large"),
      );
      return;
    }
    if (type === "entity.parse.failed") {
      sendError(
        res,
        new AppError("invalid_payload", "Request body is not valid JSON"),
      );
      return;
    }
    if (error instanceof URIError) {
      sendError(
        res,
        new AppError(
          "invalid_payload",
          "Request path is not valid percent-encoding",
        ),
      );
      return;
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      // Other client errors from Express and body-parser, such as an
      // unsupported charset (415) or an undecodable path parameter (400).
      sendError(
        res,
        new AppError(
          status === 413 ? "payload_too_large" : "invalid_payload",
          "Request could not be read",
        ),
      );
      return;
    }
    const body = toErrorBody(error, logger, {
      method: req.method,
      path: req.path,
    });
    sendError(res, new AppError(body.code, body.message));
  };
}
