import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import express from "express";
import { Server } from "socket.io";
import { ActivityService } from "./activity/service.js";
import { AttentionService } from "./attention/service.js";
import { TokenService } from "./auth/tokens.js";
import { ChatService } from "./chat/service.js";
import type { Config } from "./config.js";
import { errorHandler, notFoundHandler } from "./http/errors.js";
import { createRoutes } from "./http/routes.js";
import { securityHeaders } from "./http/security.js";
import { RateLimits } from "./limits/rate-limits.js";
import { startSocketSweeper } from "./realtime/socket-sweeper.js";
import type { Logger } from "./observability/logger.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import { OneSignalSender } from "./push/onesignal/client.js";
import type { PushSender } from "./push/onesignal/sender.js";
import { DryRunOutbox } from "./push/outbox.js";
import { PushService } from "./push/service.js";
import { attachSocketHandlers } from "./realtime/connection.js";
import { MessageDelivery } from "./realtime/delivery.js";
import { Fanout } from "./realtime/fanout.js";
import type { ChatServer } from "./realtime/types.js";
import type { Backend } from "./stores/index.js";
import type { PushStores } from "./stores/types.js";

const DEV_TOKEN_TTL_SECONDS = 24 * 60 * 60;
/** Time in ms that shutdown waits for clients to close their connections before it destroys them. */
const CLOSE_GRACE_MS = 2000;
/** client-demo/ at the top of the repository, from this file in server/src/ or in dist/. */
const DEMO_DIR =
  ["../../client-demo", "../client-demo"]
    .map((path) => fileURLToPath(new URL(path, import.meta.url)))
    .find((path) => existsSync(path)) ?? "client-demo";

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** Stores and, in a cluster, the Socket.IO adapter and membership; see createBackend. */
  backend: Backend;
  /** Identifies this process among the nodes of a cluster. */
  nodeId: string;
}

export interface ChatApp {
  httpServer: HttpServer;
  io: ChatServer;
  chat: ChatService;
  attention: AttentionService;
  push: PushService;
  pushStores: PushStores;
  /** The dry-run outbox, or null when pushes go to OneSignal. */
  outbox: DryRunOutbox | null;
  metrics: Metrics;
  limits: RateLimits;
  nodeId: string;
  /** Starts listening on the configured host and port; resolves with the bound port. */
  listen(): Promise<number>;
  /**
   * Stops accepting connections, disconnects every socket, then closes the
   * stores. Safe to call more than once; later calls return the first promise.
   */
  close(): Promise<void>;
}

/** Builds the HTTP server, the Socket.IO server and the services from their dependencies. */
export function createApp({
  config,
  logger,
  backend,
  nodeId,
}: AppDeps): ChatApp {
  const { stores, pushStores } = backend;
  const expressApp = express();
  expressApp.disable("x-powered-by");
  if (config.trustProxy !== null) {
    expressApp.set("trust proxy", config.trustProxy);
  }
  const httpServer = createServer(expressApp);
  const io: ChatServer = new Server(httpServer, {
    maxHttpBufferSize: config.limits.maxPayloadBytes,
    pingInterval: config.socket.pingIntervalMs,
    pingTimeout: config.socket.pingTimeoutMs,
    cors: { origin: config.socket.corsOrigins },
  });
  const connections = new Set<Socket>();
  httpServer.on("connection", (connection: Socket) => {
    connections.add(connection);
    connection.once("close", () => connections.delete(connection));
  });
  const limits = new RateLimits(config.rateLimits, backend.rateLimitStore);
  const stopSweeper = startSocketSweeper(
    io,
    config.socket.maxBufferedBytes,
    logger.child({ module: "socket" }),
  );
  if (backend.adapter) io.adapter(backend.adapter);

  const chat = new ChatService(
    stores,
    {
      messageMaxLength: config.limits.messageMaxLength,
      conversationMaxMembers: config.limits.conversationMaxMembers,
    },
    logger.child({ module: "chat" }),
  );
  const attention = new AttentionService(
    stores.attention,
    nodeId,
    logger.child({ module: "attention" }),
  );
  const fanout = new Fanout(io, chat);
  const metrics = createMetrics();

  const pushLogger = logger.child({ module: "push" });
  const outbox = config.push.oneSignal ? null : new DryRunOutbox(pushLogger);
  const sender: PushSender = config.push.oneSignal
    ? new OneSignalSender(
        {
          ...config.push.oneSignal,
          requestTimeoutMs: config.push.requestTimeoutMs,
          maxRetries: config.push.maxRetries,
          retryBaseMs: config.push.retryBaseMs,
          maxConnections: config.push.maxConnections,
        },
        pushLogger,
        metrics,
      )
    : outbox!;
  const push = new PushService({
    config: config.push,
    stores,
    pushStores,
    attention,
    sender,
    logger: pushLogger,
    metrics,
  });
  push.start();
  const activities = new ActivityService({
    templates: config.activity.templates,
    rollupMs: config.activity.rollupMs,
    idRetentionMs: config.activity.idRetentionMs,
    includeContent: config.push.includeContent,
    appId: config.push.oneSignal?.appId ?? null,
    attention,
    pushStores,
    idempotency: stores.idempotency,
    push,
    emitLive: (userId, activity) => fanout.activity(userId, activity),
    logger: logger.child({ module: "activity" }),
  });
  const delivery = new MessageDelivery(
    io,
    attention,
    push,
    config.push.ackTimeoutMs,
    backend.bus,
    logger.child({ module: "delivery" }),
  );

  attention.onPresence((userId, online) => {
    chat.contactsOf(userId).then(
      (contacts) => fanout.presence(contacts, userId, online),
      (error: unknown) =>
        logger.error(
          { err: error, userId, online },
          "presence broadcast failed",
        ),
    );
  });

  let closing: Promise<void> | null = null;
  const checkReady = async () => {
    if (closing) throw new Error("shutting down");
    await stores.ping();
  };

  expressApp.use(securityHeaders());
  expressApp.use(express.json({ limit: config.limits.maxPayloadBytes }));
  expressApp.use(
    createRoutes({
      chat,
      attention,
      fanout,
      tokens: new TokenService(config.auth.jwtSecret),
      serverApiKey: config.auth.serverApiKey,
      devAuth: config.auth.devAuth,
      devTokenTtlSeconds: DEV_TOKEN_TTL_SECONDS,
      checkReady,
      preferences: pushStores.preferences,
      decisions: pushStores.decisions,
      outbox,
      metricsRegistry: metrics.registry,
      activities,
      limits,
      oneSignalAppId: config.push.oneSignal?.appId ?? null,
      logger: logger.child({ module: "http" }),
    }),
  );
  // The demo client, served at / so the quick start shows it.
  expressApp.use(express.static(DEMO_DIR, { index: "index.html" }));
  expressApp.use(notFoundHandler);
  expressApp.use(errorHandler(logger.child({ module: "http" })));

  attachSocketHandlers(io, new TokenService(config.auth.jwtSecret), {
    chat,
    attention,
    fanout,
    delivery,
    push,
    preferences: pushStores.preferences,
    metrics,
    logger: logger.child({ module: "socket" }),
    typingTtlMs: config.typingTtlMs,
    limits,
    connectionsPerUser: config.rateLimits.connectionsPerUser,
    clientConversationCreate: config.limits.clientConversationCreate,
  });

  const listen = async () => {
    // Nodes must know which peers are alive before they read attention entries.
    await backend.membership?.start({
      localSocketIds: () => attention.localSocketIds(),
      removeDevice: (userId, socketId) =>
        attention.removeStale(userId, socketId),
      restoreLocalDevices: () => attention.restoreLocalDevices(),
    });
    await delivery.start();
    return new Promise<number>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(config.port, config.host, () => {
        httpServer.off("error", reject);
        resolve((httpServer.address() as AddressInfo).port);
      });
    });
  };

  const close = () => {
    closing ??= (async () => {
      logger.info({ nodeId, sockets: io.engine.clientsCount }, "shutting down");
      // io.close() closes every transport and the HTTP server. Clients see a
      // "transport close" and reconnect by themselves, to another node when
      // there is one. The disconnect handlers it triggers remove the
      // attention entries.
      stopSweeper();
      const closed = new Promise<void>((resolve) => io.close(() => resolve()));
      // Connections whose peer does not complete the close (a frozen
      // client) are destroyed after a grace period.
      const grace = setTimeout(() => {
        for (const connection of connections) connection.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
      await waitFor(
        () => attention.pendingOperations === 0,
        config.shutdownTimeoutMs,
      );
      await push.close();
      await backend.bus?.stop();
      await backend.membership?.stop();
      await stores.close();
      await backend.close();
      logger.info({ nodeId }, "shut down");
    })();
    return closing;
  };

  return {
    httpServer,
    io,
    chat,
    attention,
    push,
    pushStores,
    outbox,
    metrics,
    limits,
    nodeId,
    listen,
    close,
  };
}

/** Polls `done` every 10 ms until it is true or `timeoutMs` passes. */
async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
