/**
 * The baseline a team would write by wiring Socket.IO themselves: no JWT,
 * no store, no push. A client names its user in the handshake
 * (`auth: { userId }`), joins the room `user:<id>`, and `message:send
 * { to, clientMessageId, text }` is relayed to the recipient's room as
 * `message:new` and acked with `{ ok: true, seq }`.
 *
 * With REDIS_URL set it runs as one node of a cluster through
 * @socket.io/redis-adapter (ioredis), on the channel `<REDIS_PREFIX>socket.io`.
 *
 * Environment: PORT (required), HOST (default 127.0.0.1), REDIS_URL,
 * REDIS_PREFIX (default `relay:`). GET /healthz returns 200 once it listens;
 * GET /stats returns `process.memoryUsage()` and the connection count.
 */
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const userRoom = (userId: string) => `user:${userId}`;

interface SendPayload {
  to?: unknown;
  clientMessageId?: unknown;
  text?: unknown;
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) {
    throw new Error(`PORT must be a port number, got ${process.env.PORT}`);
  }
  const host = process.env.HOST ?? "127.0.0.1";

  const httpServer = createServer((request, response) => {
    if (request.url === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" });
      response.end("ok");
      return;
    }
    if (request.url === "/stats") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          memory: process.memoryUsage(),
          connections: io.engine.clientsCount,
        }),
      );
      return;
    }
    response.writeHead(404).end();
  });
  // Same heartbeat as the chat server's defaults (PING_INTERVAL_MS, PING_TIMEOUT_MS).
  const io = new Server(httpServer, {
    pingInterval: 10_000,
    pingTimeout: 5000,
  });

  const redisConnections: Redis[] = [];
  if (process.env.REDIS_URL) {
    const publisher = new Redis(process.env.REDIS_URL, {
      connectionName: `bench-relay-${port}-publish`,
    });
    const subscriber = publisher.duplicate({
      connectionName: `bench-relay-${port}-subscribe`,
    });
    redisConnections.push(publisher, subscriber);
    for (const connection of redisConnections) {
      connection.on("error", (error: Error) =>
        process.stderr.write(`relay: Redis error: ${error.message}\n`),
      );
      connection.on("reconnecting", () =>
        process.stderr.write("relay: reconnecting to Redis\n"),
      );
    }
    io.adapter(
      createAdapter(publisher, subscriber, {
        key: `${process.env.REDIS_PREFIX ?? "relay:"}socket.io`,
      }),
    );
  }

  let seq = 0;
  io.use((socket, next) => {
    const userId = (socket.handshake.auth as { userId?: unknown }).userId;
    if (typeof userId !== "string" || userId.length === 0) {
      next(new Error("auth.userId is required"));
      return;
    }
    socket.data.userId = userId;
    next();
  });
  io.on("connection", (socket) => {
    const userId = socket.data.userId as string;
    void socket.join(userRoom(userId));
    socket.on(
      "message:send",
      (payload: SendPayload, ack?: (response: unknown) => void) => {
        if (
          typeof payload?.to !== "string" ||
          typeof payload.text !== "string"
        ) {
          ack?.({ ok: false, error: { code: "invalid_payload" } });
          return;
        }
        seq += 1;
        const message = {
          seq,
          senderId: userId,
          recipientId: payload.to,
          clientMessageId: payload.clientMessageId,
          text: payload.text,
          createdAt: new Date().toISOString(),
        };
        io.to(userRoom(payload.to)).emit("message:new", message);
        ack?.({ ok: true, seq });
      },
    );
  });

  const stop = () => {
    io.close(() => {
      for (const connection of redisConnections) connection.disconnect();
      process.exit(0);
    });
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  await new Promise<void>((resolve) => httpServer.listen(port, host, resolve));
  process.stdout.write(`${JSON.stringify({ msg: "listening", port })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`relay failed to start: ${String(error)}\n`);
  process.exit(1);
});
