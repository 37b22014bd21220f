import { Router } from "express";
import { requireServerKey } from "../auth/server-key.js";
import type { TokenService } from "../auth/tokens.js";
import type { AttentionService } from "../attention/service.js";
import type { ChatService } from "../chat/service.js";
import {
  createConversationBodySchema,
  devTokenBodySchema,
  userIdSchema,
} from "../protocol/index.js";
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
}

export function createRoutes(context: HttpContext): Router {
  const router = Router();
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

  if (context.devAuth) {
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

  router.use("/api", serverApi);
  return router;
}
