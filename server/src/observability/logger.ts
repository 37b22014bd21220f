import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Creates the root logger. Fields that could carry credentials are redacted
 * wherever they appear, as a second line of defence behind call sites that
 * never pass them.
 */
export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service: "chat-server" },
      redact: {
        paths: [
          "token",
          "*.token",
          "authorization",
          "*.authorization",
          "headers.authorization",
          "*.headers.authorization",
          "apiKey",
          "*.apiKey",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
