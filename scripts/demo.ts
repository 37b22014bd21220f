/**
 * Plays the push fallback story against a server started in this process,
 * and prints what happens at each step. State is in memory and pushes go to
 * the dry-run outbox, so nothing leaves the machine.
 *
 *   npm run demo
 */
import { io, type Socket } from "socket.io-client";
import { createApp, type ChatApp } from "../server/src/app.js";
import { loadConfig } from "../server/src/config.js";
import { createLogger } from "../server/src/observability/logger.js";
import type {
  AckResponse,
  ClientToServerEvents,
  PushDecisionReason,
  ServerToClientEvents,
} from "../server/src/protocol/index.js";
import { createBackend } from "../server/src/stores/index.js";

type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

interface OutboxEntry {
  at: string;
  notificationId: string;
  request: {
    headings: Record<string, string>;
    contents: Record<string, string>;
    collapse_id?: string;
    data?: Record<string, unknown>;
  };
}

interface DecisionEntry {
  at: string;
  kind: "message" | "activity";
  reason: PushDecisionReason;
  count: number;
}

/** A burst ends after this much quiet; short, so the demo runs in seconds. */
const DEBOUNCE_MS = 1000;
/** Window in which reports of one activity are rolled up into one push. */
const ROLLUP_MS = 1000;
/** Maximum wait for any one expected outcome. */
const STEP_TIMEOUT_MS = 5000;
/** The whole demo is abandoned after this long. */
const DEMO_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 50;

const say = (line = "") => console.log(line);
const detail = (line: string) => console.log(`     ${line}`);

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error(`The demo did not finish within ${DEMO_TIMEOUT_MS} ms.`);
    process.exit(1);
  }, DEMO_TIMEOUT_MS);
  watchdog.unref();

  // An explicit environment, so OneSignal or Redis settings of the shell do
  // not turn the demo into real pushes or a cluster node.
  const config = loadConfig({
    NODE_ENV: "development",
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: "warn",
    PUSH_DEBOUNCE_MS: String(DEBOUNCE_MS),
    PUSH_MAX_WAIT_MS: "5000",
    PUSH_ACK_TIMEOUT_MS: "500",
    ACTIVITY_ROLLUP_MS: String(ROLLUP_MS),
  });
  const logger = createLogger(config.logLevel);
  const nodeId = "demo";
  const backend = await createBackend(config, logger, nodeId);
  const app = createApp({ config, logger, backend, nodeId });
  const port = await app.listen();
  const url = `http://127.0.0.1:${port}`;
  const sockets: ChatSocket[] = [];

  try {
    say("Chat server with push fallback: a scripted demo");
    say(
      `Server on ${url}: state in memory, pushes recorded in the dry-run outbox, a burst ends after ${DEBOUNCE_MS / 1000} s of quiet.`,
    );
    say();
    await playStory(app, url, config.auth.serverApiKey, sockets);
    say();
    say("Done. Open the same story in a browser with `npm start` and");
    say("http://localhost:3000 in two windows.");
  } finally {
    for (const socket of sockets) socket.disconnect();
    await app.close();
  }
}

async function playStory(
  app: ChatApp,
  url: string,
  serverApiKey: string,
  sockets: ChatSocket[],
): Promise<void> {
  say(
    "1. Anna and Ben connect. Anna starts a chat with Ben, and both open it.",
  );
  const anna = await connect(url, "anna", "Anna");
  const ben = await connect(url, "ben", "Ben");
  sockets.push(anna, ben);
  // Like any app, both ack each message once it is on screen.
  anna.on("message:new", (_message, ack) => ack?.());
  ben.on("message:new", (_message, ack) => ack?.());
  const { conversation } = ok(
    await anna
      .timeout(STEP_TIMEOUT_MS)
      .emitWithAck("conversation:create", { memberIds: ["ben"] }),
  );
  const conversationId = conversation.id;
  for (const socket of [anna, ben]) {
    ok(
      await socket
        .timeout(STEP_TIMEOUT_MS)
        .emitWithAck("conversation:open", { conversationId }),
    );
  }
  detail(`conversation ${conversationId}`);

  say();
  say("2. They chat while both look at the conversation.");
  const benSees = nextMessage(ben);
  await send(anna, conversationId, "Hi Ben, are you there?");
  detail(`Ben's app shows "${(await benSees).text}" at once and acks it.`);
  await waitFor("Ben's decision suppressed_viewing", async () =>
    (await decisions(url, "ben")).find(
      (entry) => entry.reason === "suppressed_viewing",
    ),
  );
  detail("Push decision for Ben: suppressed_viewing. He saw it, so no push.");
  const annaSees = nextMessage(anna);
  await send(ben, conversationId, "Yes, reading along!");
  detail(`Anna sees "${(await annaSees).text}" live; no push for her either.`);
  detail(`Pushes to Ben so far: ${(await outbox(url, "ben")).length}.`);

  say();
  say(
    "3. Ben switches to another app: his device reports app:state background.",
  );
  ok(
    await ben
      .timeout(STEP_TIMEOUT_MS)
      .emitWithAck("app:state", { state: "background" }),
  );
  detail("He is still connected, but no longer counts as reading.");

  say();
  const burst = ["Dinner tonight?", "I booked a table", "See you at 8"];
  say(`4. Anna sends a burst of ${burst.length} messages:`);
  let lastSeq = 0;
  for (const text of burst) {
    lastSeq = (await send(anna, conversationId, text)).seq;
    detail(`Anna: "${text}"`);
  }
  detail(`Waiting for ${DEBOUNCE_MS / 1000} s of quiet to end the burst...`);
  const [push] = await waitFor("one push to Ben", async () => {
    const pushes = await outbox(url, "ben");
    return pushes.length > 0 ? pushes : undefined;
  });
  await waitForIdleQueue(app);
  const pushes = await outbox(url, "ben");
  if (pushes.length !== 1) {
    throw new Error(`expected 1 push to Ben, found ${pushes.length}`);
  }
  detail("Exactly one push reached Ben's outbox for the whole burst:");
  describePush(push!);

  say();
  say(`5. Ben comes back to the chat and reads up to message ${lastSeq}.`);
  ok(
    await ben
      .timeout(STEP_TIMEOUT_MS)
      .emitWithAck("app:state", { state: "foreground" }),
  );
  ok(
    await ben
      .timeout(STEP_TIMEOUT_MS)
      .emitWithAck("message:read", { conversationId, seq: lastSeq }),
  );
  // Long enough for a push that was wrongly still pending to fire.
  await sleep(DEBOUNCE_MS + 500);
  await waitForIdleQueue(app);
  const afterRead = await outbox(url, "ben");
  if (afterRead.length !== 1) {
    throw new Error(
      `expected no new push after reading, found ${afterRead.length}`,
    );
  }
  detail("Nothing more is sent: the outbox still holds 1 push to Ben.");

  say();
  say("6. Ben closes the app. Then Anna likes one of his posts, and the app's");
  say("   backend reports it with POST /api/activities.");
  const benGone = new Promise<void>((resolve) =>
    anna.on("presence", ({ userId, online }) => {
      if (userId === "ben" && !online) resolve();
    }),
  );
  ben.disconnect();
  await withTimeout(benGone, "Ben going offline");
  detail("Anna's app gets presence: Ben is offline.");
  const result = await reportActivity(url, serverApiKey, {
    action: "like",
    actor_id: "anna",
    actor_name: "Anna",
    recipient_id: "ben",
    post_id: "post_42",
  });
  detail(
    `The server answers ${result.status}, delivery ${result.delivery}: no device of Ben's is in the foreground.`,
  );
  detail(`Waiting for the ${ROLLUP_MS / 1000} s roll-up window...`);
  const [activityPush] = await waitFor("a push for the like", async () => {
    const all = await outbox(url, "ben");
    return all.length > 1 ? all : undefined;
  });
  detail("A second push reached Ben's outbox:");
  describePush(activityPush!);

  say();
  say("Ben's push decision log, oldest first:");
  for (const entry of (await decisions(url, "ben")).reverse()) {
    detail(
      `${entry.reason.padEnd(18)} ${entry.count} ${entry.kind}${entry.count === 1 ? "" : "s"}`,
    );
  }
}

/** Gets a dev token and connects as the user. */
async function connect(
  url: string,
  userId: string,
  name: string,
): Promise<ChatSocket> {
  const response = await fetch(`${url}/api/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId, name }),
  });
  if (!response.ok) {
    throw new Error(`dev token for ${userId} failed: HTTP ${response.status}`);
  }
  const { token } = (await response.json()) as { token: string };
  const socket: ChatSocket = io(url, {
    auth: { token },
    transports: ["websocket"],
    reconnection: false,
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    }),
    `${userId} connecting`,
  );
  return socket;
}

async function send(socket: ChatSocket, conversationId: string, text: string) {
  return ok(
    await socket.timeout(STEP_TIMEOUT_MS).emitWithAck("message:send", {
      conversationId,
      clientMessageId: `demo-${Date.now()}-${Math.random().toString(36).slice(2)}`,
      text,
    }),
  );
}

function nextMessage(socket: ChatSocket) {
  return withTimeout(
    new Promise<{ text: string }>((resolve) =>
      socket.once("message:new", (message) => resolve(message)),
    ),
    "a live message",
  );
}

function ok<T extends object>(ack: AckResponse<T>): { ok: true } & T {
  if (!ack.ok) throw new Error(`${ack.error.code}: ${ack.error.message}`);
  return ack;
}

async function outbox(url: string, userId: string): Promise<OutboxEntry[]> {
  const response = await fetch(`${url}/api/dev/push-outbox?userId=${userId}`);
  return ((await response.json()) as { pushes: OutboxEntry[] }).pushes;
}

async function decisions(
  url: string,
  userId: string,
): Promise<DecisionEntry[]> {
  const response = await fetch(`${url}/api/dev/users/${userId}/push-decisions`);
  return ((await response.json()) as { decisions: DecisionEntry[] }).decisions;
}

async function reportActivity(
  url: string,
  serverApiKey: string,
  report: Record<string, string>,
): Promise<{ status: string; delivery?: string }> {
  const response = await fetch(`${url}/api/activities`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${serverApiKey}`,
      "content-type": "application/json",
    },
    body: JSON.stringify(report),
  });
  const body = (await response.json()) as {
    result: { status: string; delivery?: string };
  };
  if (!response.ok) {
    throw new Error(
      `activity report failed: HTTP ${response.status} ${JSON.stringify(body)}`,
    );
  }
  return body.result;
}

function describePush(push: OutboxEntry): void {
  detail(`  heading:     ${push.request.headings.en}`);
  detail(`  content:     ${push.request.contents.en}`);
  detail(`  collapse_id: ${push.request.collapse_id}`);
}

/** Polls `probe` until it returns a value; fails after STEP_TIMEOUT_MS. */
async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(
    `timed out after ${STEP_TIMEOUT_MS} ms waiting for ${description}`,
  );
}

async function waitForIdleQueue(app: ChatApp): Promise<void> {
  await waitFor("an empty push queue", async () =>
    (await app.pushStores.queue.size()) === 0 ? true : undefined,
  );
}

function withTimeout<T>(promise: Promise<T>, description: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `timed out after ${STEP_TIMEOUT_MS} ms waiting for ${description}`,
          ),
        ),
      STEP_TIMEOUT_MS,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(
      `Demo failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exit(1);
  },
);
