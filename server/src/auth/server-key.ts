import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import { AppError } from "../protocol/index.js";

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * Express middleware for server-to-server routes: requires
 * `Authorization: Bearer <SERVER_API_KEY>`. Both sides are hashed first, so
 * the comparison takes the same time whatever the length of the guess.
 */
export function requireServerKey(serverApiKey: string): RequestHandler {
  const expected = digest(serverApiKey);
  return (req, _res, next) => {
    const header = req.headers.authorization ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) {
      next(
        new AppError(
          "unauthorized",
          "Missing Authorization: Bearer <SERVER_API_KEY> header",
        ),
      );
      return;
    }
    if (!timingSafeEqual(digest(match[1]!.trim()), expected)) {
      next(new AppError("unauthorized", "Invalid server API key"));
      return;
    }
    next();
  };
}
