// @ts-check
// HTTP calls of the demo page: its config, dev tokens, the dry-run push
// outbox, the push decision log and activity reports.

/** @typedef {import("../server/src/stores/types.js").PushDecision} PushDecision */
/** @typedef {import("zod").input<typeof import("../server/src/activity/schema.js").activityInputSchema>} ActivityReport */
/** @typedef {import("../server/src/protocol/errors.js").ErrorBody} ErrorBody */

/**
 * Body of `GET /demo-config.json`.
 * @typedef {object} DemoConfig
 * @property {boolean} devAuth whether `POST /api/dev/token` is served
 * @property {string | null} oneSignalAppId app id for the OneSignal Web SDK
 * @property {"dry-run" | "onesignal"} pushMode where pushes go
 */

/**
 * One push recorded by the dry-run outbox.
 * @typedef {object} OutboxEntry
 * @property {string} at ISO time the push was recorded
 * @property {string} notificationId
 * @property {OutboxRequest} request the body OneSignal would have received
 */

/**
 * The parts of a recorded OneSignal request that the page shows. The full
 * shape is NotificationRequest in server/src/push/onesignal/schema.ts, which
 * this browser code cannot import because it uses Node's Buffer.
 * @typedef {object} OutboxRequest
 * @property {{ external_id: string[] }} include_aliases
 * @property {Record<string, string>} headings text per language, `en` always
 * @property {Record<string, string>} contents text per language, `en` always
 * @property {Record<string, unknown>} [data]
 * @property {string} [collapse_id]
 */

/**
 * Result of one activity report, as `POST /api/activities` returns it.
 * @typedef {{ status: "ignored"; reason: "self_action" }
 *   | { status: "duplicate"; activityId: string }
 *   | { status: "accepted"; activityId: string; delivery: "live" | "push_scheduled" | "disabled" }} ActivityResult
 */

/** Time after which an HTTP request of the page is abandoned. */
const REQUEST_TIMEOUT_MS = 8000;

/** An HTTP error with the server's error code, when it sent one. */
export class HttpError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {string | undefined} code
   */
  constructor(status, message, code) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
  }
}

/**
 * Sends a request to this page's own server and parses the JSON reply.
 * Throws HttpError for a non-2xx status, with the server's error message.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<unknown>}
 */
async function requestJson(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  /** @type {unknown} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = /** @type {{ error?: ErrorBody } | null} */ (body)?.error;
    throw new HttpError(
      response.status,
      error?.message ?? `${path} failed with HTTP ${response.status}`,
      error?.code,
    );
  }
  return body;
}

/** @returns {Promise<DemoConfig>} */
export async function fetchDemoConfig() {
  return /** @type {DemoConfig} */ (await requestJson("/demo-config.json"));
}

/**
 * Gets a signed token for any user id from the dev endpoint.
 * @param {string} userId
 * @param {string | undefined} name
 * @returns {Promise<string>}
 */
export async function requestDevToken(userId, name) {
  const body = /** @type {{ token: string }} */ (
    await requestJson("/api/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId, name }),
    })
  );
  return body.token;
}

/**
 * Lists the dry-run pushes to a user, newest first.
 * @param {string} userId
 * @param {number} limit
 * @returns {Promise<OutboxEntry[]>}
 */
export async function fetchOutbox(userId, limit) {
  const query = new URLSearchParams({ userId, limit: String(limit) });
  const body = /** @type {{ pushes: OutboxEntry[] }} */ (
    await requestJson(`/api/dev/push-outbox?${query}`)
  );
  return body.pushes;
}

/**
 * Lists a user's push decisions, newest first.
 * @param {string} userId
 * @param {number} limit
 * @returns {Promise<PushDecision[]>}
 */
export async function fetchDecisions(userId, limit) {
  const query = new URLSearchParams({ limit: String(limit) });
  const body = /** @type {{ decisions: PushDecision[] }} */ (
    await requestJson(
      `/api/dev/users/${encodeURIComponent(userId)}/push-decisions?${query}`,
    )
  );
  return body.decisions;
}

/**
 * Reports one social activity, as an app's backend would, with the server
 * API key.
 * @param {string} serverApiKey
 * @param {ActivityReport} report
 * @returns {Promise<ActivityResult>}
 */
export async function postActivity(serverApiKey, report) {
  const body = /** @type {{ result: ActivityResult }} */ (
    await requestJson("/api/activities", {
      method: "POST",
      headers: {
        authorization: `Bearer ${serverApiKey}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(report),
    })
  );
  return body.result;
}
