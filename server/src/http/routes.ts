import { createHash } from "node:crypto";
import { Router, type Request } from "express";
import type { RateLimits } from "../limits/rate-limits.js";
import { requireServerKey } from "../auth/server-key.js";
import type { TokenService } from "../auth/tokens.js";
import type { AttentionService } from "../attention/service.js";
import type { ChatService } from "../chat/service.js";
import { z } from "zod";
import type { Registry } from "prom-client";
import {
  AppError,
  createConversationBodySchema,
  devTokenBodySchema,
  preferencesPatchSchema,
  userIdSchema,
} from "../protocol/index.js";
import type { ActivityService } from "../activity/service.js";
import type { Logger } from "../observability/logger.js";
import type { DryRunOutbox } from "../push/outbox.js";
import { postActivities } from "./activities.js";
import type { DecisionLog, PreferencesStore } from "../stores/types.js";
import type { Fanout } from "../realtime/fanout.js";
import { parseBody } from "./errors.js";

export interface HttpContext {
  chat: ChatService;
  attention: AttentionService;
  fanout: Fanout;
  tokens: TokenService;
  serverApiKey: string;
  devAuth: boolean;
  /** Lifetime of dev tokens in seconds. */
  devTokenTtlSeconds: number;
  /** Resolves when the server can take traffic; rejects with the reason otherwise. */
  checkReady: () => Promise<void>;
  preferences: PreferencesStore;
  decisions: DecisionLog;
  /** Set in dry-run mode; served at /api/dev/push-outbox when dev auth is on. */
  outbox: DryRunOutbox | null;
  metricsRegistry: Registry;
  activities: ActivityService;
  limits: RateLimits;
  /** OneSignal app id for the demo page's Web SDK, or null. */
  oneSignalAppId: string | null;
  logger: Logger;
}

const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const outboxQuerySchema = listQuerySchema.extend({
  userId: userIdSchema.optional(),
});

export function createRoutes(context: HttpContext): Router {
  const router = Router();
  // Every /api and /metrics request counts against its key (or address).
  router.use(["/api", "/metrics"], (req, _res, next) => {
    context.limits.consume("apiPerMinute", clientKey(req)).then(
      () => next(),
      (error: unknown) => next(error),
    );
  });
  const { chat, attention, fanout, tokens } = context;

  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });

  router.get("/readyz", async (_req, res) => {
    try {
      await context.checkReady();
      res.json({ status: "ready" });
    } catch (error) {
      res
        .status(503)
        .json({ status: "not_ready", reason: (error as Error).message });
    }
  });

  router.get(
    "/metrics",
    requireServerKey(context.serverApiKey),
    async (_req, res) => {
      res.setHeader("content-type", context.metricsRegistry.contentType);
      res.send(await context.metricsRegistry.metrics());
    },
  );

  // Bodies are JSON; any other content type would reach the schemas as nothing.
  router.use("/api", (req, _res, next) => {
    const hasBody = ["POST", "PATCH", "PUT"].includes(req.method);
    const length = Number(req.headers["content-length"] ?? 0);
    if (hasBody && length > 0 && !req.is("application/json")) {
      next(
        new AppError(
          "invalid_payload",
          "Request body must be JSON, sent with Content-Type: application/json",
        ),
      );
      return;
    }
    next();
  });

  const serverApi = Router();
  serverApi.use(requireServerKey(context.serverApiKey));

  serverApi.post("/conversations", async (req, res) => {
    const body = parseBody(createConversationBodySchema, req.body);
    const { conversation, created } = await chat.createConversation(
      null,
      body.memberIds,
      body.title,
    );
    if (created) await fanout.conversationCreated(conversation);
    res.status(created ? 201 : 200).json({ conversation, created });
  });

  serverApi.post(
    "/activities",
    async (req, _res, next) => {
      const items = Array.isArray(req.body)
        ? req.body.length
        : Array.isArray(req.body?.activities)
          ? req.body.activities.length
          : 1;
      await context.limits.consume(
        "activitiesPerMinute",
        clientKey(req),
        Math.max(1, Math.min(items, 1000)),
      );
      next();
    },
    postActivities(context.activities, context.logger),
  );

  serverApi.get("/users/:id/presence", async (req, res) => {
    const userId = parseBody(userIdSchema, req.params.id);
    const devices = await attention.listDevices(userId);
    res.json({
      userId,
      online: devices.length > 0,
      devices: devices.map(
        ({
          socketId,
          nodeId,
          appState,
          openConversationId,
          connectedAt,
          changedAt,
        }) => ({
          socketId,
          nodeId,
          appState,
          openConversationId,
          connectedAt: new Date(connectedAt).toISOString(),
          changedAt: new Date(changedAt).toISOString(),
        }),
      ),
    });
  });

  serverApi.get("/users/:id/preferences", async (req, res) => {
    const userId = parseBody(userIdSchema, req.params.id);
    res.json({ userId, preferences: await context.preferences.get(userId) });
  });

  serverApi.patch("/users/:id/preferences", async (req, res) => {
    const userId = parseBody(userIdSchema, req.params.id);
    const patch = parseBody(preferencesPatchSchema, req.body);
    const preferences = await context.preferences.update(
      userId,
      patch,
      Date.now(),
    );
    res.json({ userId, preferences });
  });

  serverApi.get("/users/:id/push-decisions", async (req, res) => {
    const userId = parseBody(userIdSchema, req.params.id);
    const { limit } = parseBody(listQuerySchema, req.query);
    res.json({
      userId,
      decisions: await context.decisions.list(userId, limit),
    });
  });

  // What the demo page needs to know; nothing here is secret.
  router.get("/demo-config.json", (_req, res) => {
    res.json({
      devAuth: context.devAuth,
      oneSignalAppId: context.oneSignalAppId,
      pushMode: context.outbox ? "dry-run" : "onesignal",
    });
  });

  if (context.devAuth) {
    // The demo page shows a user's push decisions without the server key.
    router.get("/api/dev/users/:id/push-decisions", async (req, res) => {
      const userId = parseBody(userIdSchema, req.params.id);
      const { limit } = parseBody(listQuerySchema, req.query);
      res.json({
        userId,
        decisions: await context.decisions.list(userId, limit),
      });
    });

    router.post("/api/dev/token", async (req, res) => {
      const body = parseBody(devTokenBodySchema, req.body);
      const token = await tokens.sign(
        body.userId,
        body.name,
        context.devTokenTtlSeconds,
      );
      res.json({
        token,
        userId: body.userId,
        expiresInSeconds: context.devTokenTtlSeconds,
      });
    });
  }

  if (context.devAuth && context.outbox) {
    const outbox = context.outbox;
    router.get("/api/dev/push-outbox", (req, res) => {
      const { limit, userId } = parseBody(outboxQuerySchema, req.query);
      res.json({ pushes: outbox.list(userId, limit) });
    });
  }

  router.use("/api", serverApi);
  return router;
}

/**
 * Rate-limit key of a request: a hash of its Authorization header, so each
 * API key has its own budget without the key itself being kept, or the
 * client address when there is none.
 */
function clientKey(req: Request): string {
  const authorization = req.headers.authorization;
  if (authorization) {
    return `key:${createHash("sha256").update(authorization).digest("base64url").slice(0, 22)}`;
  }
  return `ip:${req.ip ?? "unknown"}`;
}
