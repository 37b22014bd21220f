import { AppError, type ErrorBody } from "../protocol/index.js";
import type { Logger } from "../observability/logger.js";
import { isStoreUnavailableError } from "../stores/errors.js";

/**
 * Turns any thrown value into an error body that is safe to send. AppErrors
 * keep their code, and an unreachable store becomes `unavailable` so the
 * client retries. Anything else is logged with its stack and reported as
 * `internal`, so no stack or internal message reaches a client.
 */
export function toErrorBody(
  error: unknown,
  logger: Logger,
  context: Record<string, unknown>,
): ErrorBody {
  if (error instanceof AppError) return error.toBody();
  if (isStoreUnavailableError(error)) {
    logger.warn(
      { ...context, reason: (error as Error).message },
      "request failed: store unavailable",
    );
    return {
      code: "unavailable",
      message: "The server cannot reach its store; retry shortly",
    };
  }
  logger.error({ ...context, err: error }, "request failed");
  return { code: "internal", message: "Internal server error" };
}
