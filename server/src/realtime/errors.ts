import { AppError, type ErrorBody } from "../protocol/index.js";
import type { Logger } from "../observability/logger.js";

/**
 * Turns any thrown value into an error body that is safe to send. AppErrors
 * keep their code; anything else is logged with its stack and reported as
 * `internal`, so no stack or internal message reaches a client.
 */
export function toErrorBody(
  error: unknown,
  logger: Logger,
  context: Record<string, unknown>,
): ErrorBody {
  if (error instanceof AppError) return error.toBody();
  logger.error({ ...context, err: error }, "request failed");
  return { code: "internal", message: "Internal server error" };
}
