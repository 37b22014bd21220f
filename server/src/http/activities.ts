import type { RequestHandler } from "express";
import { z } from "zod";
import {
  activityBodySchema,
  activityInputSchema,
  MAX_ACTIVITY_BATCH,
} from "../activity/schema.js";
import type { ActivityResult, ActivityService } from "../activity/service.js";
import type { Logger } from "../observability/logger.js";
import { AppError, type ErrorBody } from "../protocol/index.js";
import { describeIssue } from "../realtime/handle.js";
import { toErrorBody } from "../realtime/errors.js";
import { parseBody } from "./errors.js";

type ItemResult =
  | ({ index: number } & ActivityResult)
  | { index: number; status: "rejected" | "failed"; error: ErrorBody };

/**
 * POST /api/activities. A single report gets its result, or 400
 * when it is invalid. A batch (an array or `{ activities }`) is processed
 * item by item: a bad item is reported in its result and the others still
 * go through, and the status is 207 when any item was not accepted.
 */
export function postActivities(
  activities: ActivityService,
  logger: Logger,
): RequestHandler {
  return async (req, res) => {
    const body = parseBody(activityBodySchema, req.body);
    if (
      !Array.isArray(body) &&
      !("activities" in body && Array.isArray(body.activities))
    ) {
      const activity = parseBody(activityInputSchema, body);
      res.json({ result: await activities.report(activity) });
      return;
    }
    const items = Array.isArray(body) ? body : (body.activities as unknown[]);
    if (items.length > MAX_ACTIVITY_BATCH) {
      throw new AppError(
        "payload_too_large",
        `at most ${MAX_ACTIVITY_BATCH} activities per request, got ${items.length}; split the batch`,
      );
    }
    const results: ItemResult[] = [];
    for (const [index, item] of items.entries()) {
      results.push(await processItem(activities, logger, index, item));
    }
    const allGood = results.every(
      (result) => result.status !== "rejected" && result.status !== "failed",
    );
    res.status(allGood ? 200 : 207).json({ results });
  };
}

async function processItem(
  activities: ActivityService,
  logger: Logger,
  index: number,
  item: unknown,
): Promise<ItemResult> {
  const parsed = activityInputSchema.safeParse(item);
  if (!parsed.success) {
    return {
      index,
      status: "rejected",
      error: new AppError(
        "invalid_payload",
        describeIssue(parsed.error as z.ZodError),
      ).toBody(),
    };
  }
  try {
    return { index, ...(await activities.report(parsed.data)) };
  } catch (error) {
    return {
      index,
      status: "failed",
      error: toErrorBody(error, logger, {
        index,
        recipientId: parsed.data.recipientId,
      }),
    };
  }
}
