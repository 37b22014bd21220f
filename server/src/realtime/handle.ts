import type { z } from "zod";
import type { Logger } from "../observability/logger.js";
import {
  AppError,
  type AckResponse,
  type ClientEventName,
  type ClientPayload,
  schemas,
} from "../protocol/index.js";
import { toErrorBody } from "./errors.js";
import type { ChatSocket } from "./types.js";

type Handler<E extends ClientEventName> = (
  payload: ClientPayload<E>,
) => Promise<object | void>;

/** Formats the first zod issue as `path: message`, the way acks report invalid payloads. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "Invalid payload";
  const path = issue.path.map(String).join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Registers one client event. The payload is validated against the shared
 * schema before `handler` runs; the result or error goes to the ack when the
 * client sent one. Nothing the client sends, including a missing payload, a
 * missing ack or extra arguments, can throw out of the listener.
 */
export function handleEvent<E extends ClientEventName>(
  socket: ChatSocket,
  event: E,
  logger: Logger,
  handler: Handler<E>,
): void {
  const schema = schemas[event];
  const listener = (...args: unknown[]) => {
    const last = args.at(-1);
    const ack =
      typeof last === "function"
        ? (last as (response: AckResponse) => void)
        : undefined;
    const raw = args.length > 0 && typeof args[0] !== "function" ? args[0] : {};

    const reply = (response: AckResponse) => {
      if (!ack) return;
      try {
        ack(response);
      } catch (error) {
        logger.warn({ err: error, event, socketId: socket.id }, "ack failed");
      }
    };

    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      reply({
        ok: false,
        error: new AppError(
          "invalid_payload",
          describeIssue(parsed.error),
        ).toBody(),
      });
      return;
    }
    handler(parsed.data as ClientPayload<E>).then(
      (result) => reply({ ok: true, ...(result ?? {}) }),
      (error: unknown) => {
        const body = toErrorBody(error, logger, {
          event,
          socketId: socket.id,
          userId: socket.data.userId,
        });
        reply({ ok: false, error: body });
      },
    );
  };
  // The typed `on` cannot express "validated at runtime", so the listener is
  // registered through the untyped signature.
  (
    socket as unknown as {
      on(event: string, listener: (...args: unknown[]) => void): void;
    }
  ).on(event, listener);
}
