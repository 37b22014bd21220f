import type { TokenService } from "../auth/tokens.js";
import {
  AppError,
  appStates,
  schemas,
  type AppState,
} from "../protocol/index.js";
import { isStoreUnavailableError } from "../stores/errors.js";
import { dispatchEvent, type EventHandlers } from "./handle.js";
import { attentionHandlers } from "./handlers/attention.js";
import type { SocketContext } from "./handlers/context.js";
import { conversationHandlers } from "./handlers/conversations.js";
import { messageHandlers } from "./handlers/messages.js";
import { preferenceHandlers } from "./handlers/preferences.js";
import { TypingRelay } from "./handlers/typing.js";
import { type ChatServer, userRoom } from "./types.js";

/** Error passed to `next` in middleware; Socket.IO sends `data` to the client's connect_error. */
function handshakeError(
  error: AppError,
): Error & { data: { code: string; message: string } } {
  return Object.assign(new Error(error.message), {
    data: { code: error.code, message: error.message },
  });
}

function parseInitialAppState(value: unknown): AppState {
  if (value === undefined) return "foreground";
  if (
    typeof value === "string" &&
    (appStates as readonly string[]).includes(value)
  )
    return value as AppState;
  throw new AppError(
    "invalid_payload",
    `auth.appState: expected one of ${appStates.join(", ")}`,
  );
}

/**
 * Authenticates every handshake and wires each connected socket: its user
 * room, its attention entry and the event handlers.
 */
export function attachSocketHandlers(
  io: ChatServer,
  tokens: TokenService,
  context: SocketContext,
): void {
  const { attention, logger } = context;
  const typing = new TypingRelay(context);
  const handlers: EventHandlers = {
    ...conversationHandlers(context),
    ...messageHandlers(context),
    ...attentionHandlers(context),
    ...typing.handlers(),
    ...preferenceHandlers(context),
  };

  io.use((socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    let initialAppState: AppState;
    try {
      initialAppState = parseInitialAppState(auth.appState);
    } catch (error) {
      next(handshakeError(error as AppError));
      return;
    }
    tokens
      .verify(auth.token)
      .then(async (user) => {
        const devices = await attention.listDevices(user.userId);
        if (devices.length >= context.connectionsPerUser) {
          throw new AppError(
            "rate_limited",
            `Too many connections for this user: at most ${context.connectionsPerUser}`,
          );
        }
        socket.data.userId = user.userId;
        socket.data.name = user.name;
        socket.data.initialAppState = initialAppState;
        socket.data.tokenExpiresAt = user.expiresAt;
      })
      .then(
        () => next(),
        (error: unknown) => {
          const appError =
            error instanceof AppError
              ? error
              : isStoreUnavailableError(error)
                ? new AppError(
                    "unavailable",
                    "The server cannot reach its store; retry shortly",
                  )
                : new AppError("internal", "Internal server error");
          logger.info(
            {
              socketId: socket.id,
              code: appError.code,
              reason: appError.message,
            },
            "handshake rejected",
          );
          next(handshakeError(appError));
        },
      );
  });

  io.on("connection", (socket) => {
    const { userId, initialAppState } = socket.data;
    const ids = { userId, socketId: socket.id };
    void socket.join(userRoom(userId));

    // Queued before any handler can run, so every later attention update of
    // this socket, and its removal on disconnect, follow the connect.
    attention
      .connect(userId, socket.id, initialAppState)
      .catch((error: unknown) => {
        logger.error(
          { ...ids, err: error },
          "recording the connection failed; disconnecting",
        );
        socket.disconnect(true);
      });
    socket.on("disconnect", (reason) => {
      logger.debug({ ...ids, reason }, "socket disconnected");
      typing.stop(socket.id);
      context.limits.forgetSocket(socket.id);
      attention.disconnect(userId, socket.id).catch((error: unknown) => {
        logger.error({ ...ids, err: error }, "removing the device failed");
      });
    });

    // One middleware per socket handles every client event. An unknown event
    // or one over the socket's budget gets an error ack and is dropped; the
    // rest go to the shared handler table. `next` is never called, because
    // no per-event listeners are registered.
    socket.use((packet, _next) => {
      const ack = packet.at(-1);
      if (!Object.hasOwn(schemas, String(packet[0]))) {
        if (typeof ack === "function") {
          ack({
            ok: false,
            error: new AppError(
              "invalid_payload",
              `Unknown event ${String(packet[0]).slice(0, 64)}`,
            ).toBody(),
          });
        }
        return;
      }
      try {
        context.limits.takeForSocket("eventsPerSocket", socket.id);
      } catch (error) {
        if (typeof ack === "function" && error instanceof AppError) {
          ack({ ok: false, error: error.toBody() });
        }
        return;
      }
      dispatchEvent(
        socket,
        handlers,
        packet[0] as keyof EventHandlers,
        packet.slice(1),
        logger,
      );
    });
  });
}
