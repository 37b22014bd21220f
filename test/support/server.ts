import { randomBytes } from "node:crypto";
import { afterEach } from "vitest";
import { io as connectClient, type Socket } from "socket.io-client";
import { createApp, type ChatApp } from "../../server/src/app.js";
import { loadConfig, type Config } from "../../server/src/config.js";
import { createLogger } from "../../server/src/observability/logger.js";
import type {
  ClientToServerEvents,
  ServerToClientEvents,
} from "../../server/src/protocol/index.js";
import { createBackend } from "../../server/src/stores/index.js";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export const TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256";
export const TEST_SERVER_KEY = "test-server-api-key";

export interface TestServer {
  app: ChatApp;
  config: Config;
  url: string;
  /** Signs a token through the dev endpoint, as a client would get one. */
  token(userId: string, name?: string): Promise<string>;
  /** Connects an authenticated client and waits until the server has recorded it. */
  connect(
    userId: string,
    options?: { name?: string; appState?: string },
  ): Promise<ClientSocket>;
  /** Calls a server-to-server endpoint with the server API key. */
  api(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: any }>;
}

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Registers teardown that runs after the current test, newest first. */
export function onCleanup(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

/** Starts a server on 127.0.0.1 and a free port, closed after the test. */
export async function startServer(
  env: Record<string, string> = {},
): Promise<TestServer> {
  const config = loadConfig({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    SERVER_API_KEY: TEST_SERVER_KEY,
    ...env,
  });
  const logger = createLogger(config.logLevel);
  const nodeId = `test-${randomBytes(4).toString("hex")}`;
  const backend = await createBackend(config, logger, nodeId);
  const app = createApp({ config, logger, backend, nodeId });
  const port = await app.listen();
  const url = `http://127.0.0.1:${port}`;
  onCleanup(() => app.close());

  const token = (userId: string, name?: string) => devToken(url, userId, name);

  const connect = async (
    userId: string,
    options: { name?: string; appState?: string } = {},
  ) => {
    const socket = await connectUser(url, userId, options);
    await waitUntil(async () =>
      (await app.attention.listDevices(userId)).some(
        (d) => d.socketId === socket.id,
      ),
    );
    return socket;
  };

  const api = (method: string, path: string, body?: unknown) =>
    callApi(url, method, path, body);

  return { app, config, url, token, connect, api };
}

/** Polls `condition` every 10 ms until it holds; fails after `timeoutMs`. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Gets a token from a server's dev endpoint, as a client would. */
export async function devToken(
  url: string,
  userId: string,
  name?: string,
): Promise<string> {
  const response = await fetch(`${url}/api/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId, name }),
  });
  if (!response.ok) {
    throw new Error(
      `dev token failed: ${response.status} ${await response.text()}`,
    );
  }
  return ((await response.json()) as { token: string }).token;
}

/** Connects a WebSocket client as the user; closed after the test. */
export async function connectUser(
  url: string,
  userId: string,
  options: { name?: string; appState?: string } = {},
): Promise<ClientSocket> {
  const auth: Record<string, string> = {
    token: await devToken(url, userId, options.name),
  };
  if (options.appState) auth.appState = options.appState;
  const socket: ClientSocket = connectClient(url, {
    auth,
    transports: ["websocket"],
    reconnection: false,
  });
  onCleanup(() => {
    socket.disconnect();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  return socket;
}

/** Calls a server-to-server endpoint with the test server key. */
export async function callApi(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TEST_SERVER_KEY}`,
      "content-type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}
