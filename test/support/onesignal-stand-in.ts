import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";

/**
 * A OneSignal stand-in: a real HTTP server on 127.0.0.1 that checks what
 * OneSignal's Create Notification endpoint checks (auth header, app id,
 * English content, one targeting method, alias labels, at most 2,000
 * aliases, target_channel, data and payload size, collapse_id length,
 * idempotency_key format) and responds the way OneSignal does, including
 * `errors.invalid_aliases` for unsubscribed recipients and idempotent
 * replays. Tests can script 429, 5xx, slow and other responses for the
 * next requests.
 */

export interface RecordedRequest {
  at: number;
  authorization: string | undefined;
  body: Record<string, unknown> | null;
  status: number;
}

export interface ScriptedResponse {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Delay in ms before the response. */
  delayMs?: number;
  /** Drop the connection without a response. */
  destroy?: boolean;
}

export interface OneSignalStandIn {
  url: string;
  appId: string;
  apiKey: string;
  /** Every request received, with or without a response, oldest first. */
  requests: RecordedRequest[];
  /** Notifications created (idempotent replays are not counted again). */
  notifications: { id: string; body: Record<string, unknown> }[];
  /** Responses for the next requests, used up in order before normal handling. */
  script(...responses: ScriptedResponse[]): void;
  /** External ids that have no subscription; requests for them get the empty-id 200. */
  unsubscribed: Set<string>;
  close(): Promise<void>;
}

const TARGETING_FIELDS = [
  "include_aliases",
  "included_segments",
  "excluded_segments",
  "filters",
  "include_subscription_ids",
  "include_player_ids",
  "include_external_user_ids",
];
const ALIAS_LABELS = new Set(["external_id", "onesignal_id"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Bytes of the notification payload: the JSON body without its recipient list. */
const MAX_PAYLOAD_BYTES = 4096;
const MAX_DATA_BYTES = 2048;
/** Aliases per request in the spec of OneSignal's Node SDK (5.x). */
const MAX_ALIASES = 2000;

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

/** Returns the 400 error OneSignal would give the body, or null when it is valid. */
function validate(body: Record<string, unknown>, appId: string): string | null {
  const payload = JSON.stringify({ ...body, include_aliases: undefined });
  if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES)
    return "Payload exceeds the 4 KB limit";
  if (body.app_id !== appId)
    return "app_id not found. You may be missing a Content-Type: application/json header.";
  const contents = body.contents as Record<string, unknown> | undefined;
  if (
    !body.template_id &&
    (typeof contents !== "object" ||
      contents === null ||
      typeof contents.en !== "string" ||
      contents.en === "")
  ) {
    return "Notification contents for each language must be a string";
  }
  const headings = body.headings as Record<string, unknown> | undefined;
  if (headings !== undefined) {
    const languages = Object.keys(contents ?? {})
      .sort()
      .join();
    if (Object.keys(headings).sort().join() !== languages)
      return "Headings must include the same languages as contents";
  }
  const targeting = TARGETING_FIELDS.filter(
    (field) => body[field] !== undefined && field !== "excluded_segments",
  );
  if (targeting.length !== 1)
    return "You must include exactly one targeting method";
  if (body.include_aliases !== undefined) {
    const aliases = body.include_aliases as Record<string, unknown>;
    const labels = Object.keys(aliases ?? {});
    if (labels.length === 0 || labels.some((label) => !ALIAS_LABELS.has(label)))
      return "include_aliases has an unknown alias label";
    let count = 0;
    for (const ids of Object.values(aliases)) {
      if (
        !Array.isArray(ids) ||
        ids.length === 0 ||
        ids.some((id) => typeof id !== "string" || id === "")
      )
        return "include_aliases values must be arrays of non-empty strings";
      count += ids.length;
    }
    if (count > MAX_ALIASES)
      return `include_aliases may contain at most ${MAX_ALIASES} aliases, got ${count}`;
    if (body.target_channel === undefined)
      return "target_channel is required when using include_aliases";
  }
  if (
    body.target_channel !== undefined &&
    !["push", "email", "sms"].includes(String(body.target_channel))
  )
    return "target_channel must be push, email or sms";
  if (
    body.data !== undefined &&
    Buffer.byteLength(JSON.stringify(body.data)) > MAX_DATA_BYTES
  )
    return "data must be at most 2048 bytes";
  if (typeof body.collapse_id === "string" && body.collapse_id.length > 64)
    return "collapse_id must be at most 64 characters";
  if (
    body.idempotency_key !== undefined &&
    !(
      typeof body.idempotency_key === "string" &&
      UUID.test(body.idempotency_key)
    )
  ) {
    return "idempotency_key must be a valid UUID";
  }
  return null;
}

export async function startOneSignalStandIn(
  options: { appId?: string; apiKey?: string } = {},
): Promise<OneSignalStandIn> {
  const appId = options.appId ?? randomUUID();
  const apiKey =
    options.apiKey ?? `os_v2_app_${randomUUID().replaceAll("-", "")}`;
  const requests: RecordedRequest[] = [];
  const notifications: OneSignalStandIn["notifications"] = [];
  const scripted: ScriptedResponse[] = [];
  const unsubscribed = new Set<string>();
  /** idempotency key to the first answer. */
  const replays = new Map<string, { status: number; body: unknown }>();

  const server = createServer(async (request, response) => {
    const raw = await readBody(request);
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      body = null;
    }
    const record: RecordedRequest = {
      at: Date.now(),
      authorization: request.headers.authorization,
      body,
      status: 0,
    };
    requests.push(record);

    const answer = (
      status: number,
      payload: unknown,
      headers: Record<string, string> = {},
    ) => {
      record.status = status;
      response.writeHead(status, {
        "content-type": "application/json; charset=utf-8",
        ...headers,
      });
      response.end(JSON.stringify(payload));
    };

    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    if (request.method !== "POST" || url.pathname !== "/notifications") {
      answer(404, { errors: ["Not Found"] });
      return;
    }
    const authorization = request.headers.authorization ?? "";
    if (
      authorization !== `Key ${apiKey}` &&
      authorization !== `Basic ${apiKey}`
    ) {
      answer(403, {
        errors: [
          "Access denied.  Please include an 'Authorization: Key XXXXXX' header with a valid API key",
        ],
      });
      return;
    }

    const next = scripted.shift();
    if (next) {
      if (next.delayMs)
        await new Promise((resolve) => setTimeout(resolve, next.delayMs));
      if (next.destroy) {
        record.status = -1;
        request.socket.destroy();
        return;
      }
      if (next.status !== undefined) {
        answer(next.status, next.body ?? {}, next.headers);
        return;
      }
    }

    if (
      !body ||
      !String(request.headers["content-type"] ?? "").startsWith(
        "application/json",
      )
    ) {
      answer(400, {
        errors: [
          "Please include a case-sensitive header of Content-Type: application/json with all requests",
        ],
      });
      return;
    }
    const error = validate(body, appId);
    if (error) {
      answer(400, { errors: [error] });
      return;
    }
    const key = (body.idempotency_key ?? body.external_id) as
      string | undefined;
    const replay = key ? replays.get(key) : undefined;
    if (replay) {
      answer(replay.status, replay.body, { "Idempotent-Replayed": "true" });
      return;
    }
    const externalIds =
      (body.include_aliases as { external_id?: string[] } | undefined)
        ?.external_id ?? [];
    const subscribed = externalIds.filter((id) => !unsubscribed.has(id));
    let payload: unknown;
    if (subscribed.length === 0) {
      payload = { id: "", errors: ["All included players are not subscribed"] };
    } else {
      const id = randomUUID();
      notifications.push({ id, body });
      const invalid = externalIds.filter((id) => unsubscribed.has(id));
      payload =
        invalid.length > 0
          ? { id, errors: { invalid_aliases: { external_id: invalid } } }
          : { id };
    }
    if (key) replays.set(key, { status: 200, body: payload });
    answer(200, payload);
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    appId,
    apiKey,
    requests,
    notifications,
    unsubscribed,
    script: (...responses) => scripted.push(...responses),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
