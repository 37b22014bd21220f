import type { z } from "zod";
import type { Logger } from "../observability/logger.js";
import {
  AppError,
  type AckResponse,
  type ClientEventName,
  type ClientPayload,
  quickParsers,
  schemas,
} from "../protocol/index.js";
import { toErrorBody } from "./errors.js";
import type { ChatSocket } from "./types.js";

/** Handles one validated client event; the result becomes the ack's fields. */
export type EventHandler<E extends ClientEventName> = (
  socket: ChatSocket,
  payload: ClientPayload<E>,
) => Promise<object | void>;

/**
 * One handler per client event, built once per server and shared by every
 * socket, so a connection costs no closures per event.
 */
export type EventHandlers = { [E in ClientEventName]: EventHandler<E> };

/** Formats the first zod issue as `path: message`, the way acks report invalid payloads. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "Invalid payload";
  const path = issue.path.map(String).join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Runs one client event. The payload is validated against the shared
 * schema before the handler runs; the result or error goes to the ack when
 * the client sent one. Nothing the client sends, including a missing
 * payload, a missing ack or extra arguments, can throw out of here.
 */
export function dispatchEvent(
  socket: ChatSocket,
  handlers: EventHandlers,
  event: ClientEventName,
  args: unknown[],
  logger: Logger,
): void {
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

  let payload = quickParsers[event]?.(raw) ?? null;
  if (payload === null) {
    const parsed = schemas[event].safeParse(raw);
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
    payload = parsed.data;
  }
  const handler = handlers[event] as EventHandler<typeof event>;
  handler(socket, payload as ClientPayload<typeof event>).then(
    (result) => reply(result ? { ok: true, ...result } : { ok: true }),
    (error: unknown) => {
      const body = toErrorBody(error, logger, {
        event,
        socketId: socket.id,
        userId: socket.data.userId,
      });
      reply({ ok: false, error: body });
    },
  );
}
