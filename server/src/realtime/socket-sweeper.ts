import type { Logger } from "../observability/logger.js";
import type { ChatServer } from "./types.js";

/** How often local sockets are checked, in ms. */
const CHECK_INTERVAL_MS = 1000;

/** Bytes waiting in the socket's transport: the WebSocket's buffer or queued polling packets. */
function bufferedBytes(conn: unknown): number {
  const engine = conn as {
    transport?: { socket?: { bufferedAmount?: number } };
    writeBuffer?: { data?: unknown }[];
  };
  const websocketBytes = engine.transport?.socket?.bufferedAmount ?? 0;
  let pollingBytes = 0;
  for (const packet of engine.writeBuffer ?? []) {
    const data = packet.data;
    if (typeof data === "string") pollingBytes += data.length;
    else if (data instanceof Buffer || data instanceof ArrayBuffer) {
      pollingBytes += data.byteLength;
    }
  }
  return websocketBytes + pollingBytes;
}

/**
 * Checks every local socket once a second, with one timer per node rather
 * than one per socket. It disconnects sockets whose token has expired (the
 * client reconnects with a fresh one), and clients that stopped reading
 * while the server kept writing, so a slow or stalled client cannot grow
 * the server's memory without bound. Returns a function that stops it.
 */
export function startSocketSweeper(
  io: ChatServer,
  maxBufferedBytes: number,
  logger: Logger,
): () => void {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const socket of io.sockets.sockets.values()) {
      if (socket.data.tokenExpiresAt <= now) {
        logger.info(
          { socketId: socket.id, userId: socket.data.userId },
          "token expired; disconnecting",
        );
        socket.disconnect(true);
        continue;
      }
      const buffered = bufferedBytes(socket.conn);
      if (buffered <= maxBufferedBytes) continue;
      logger.warn(
        { socketId: socket.id, userId: socket.data.userId, buffered },
        "client is not reading; disconnecting it",
      );
      // A WebSocket close handshake would wait for a peer that is not
      // reading, with the buffer still held, so the TCP socket is destroyed.
      const transport = socket.conn.transport as unknown as {
        socket?: { terminate?: () => void };
      };
      if (typeof transport.socket?.terminate === "function") {
        transport.socket.terminate();
      } else {
        socket.disconnect(true);
      }
    }
  }, CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
