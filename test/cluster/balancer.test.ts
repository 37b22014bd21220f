import { once } from "node:events";
import { createServer, type Server as HttpServer } from "node:http";
import { connect as connectTcp, type AddressInfo } from "node:net";
import { Server } from "socket.io";
import { io, type Socket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import {
  parseEngineRequest,
  startBalancer,
  type Balancer,
  type BackendState,
  type BackendStatus,
} from "../../scripts/balancer.js";

/** Events of the stand-in backends, acked with the backend's name or the X-Forwarded-For header it received. */
interface BackendEvents {
  whoami: (ack: (name: string) => void) => void;
  forwardedFor: (ack: (value: string | null) => void) => void;
}

type TestClient = Socket<Record<string, never>, BackendEvents>;

interface TestBackend {
  name: string;
  port: number;
  /** Transport of each Socket.IO connection when it connected. */
  connectTransports: string[];
  /** Number of connections that upgraded from polling to WebSocket. */
  upgrades: number;
  close(): Promise<void>;
}

interface TestBalancer {
  balancer: Balancer;
  /** Resolves once `name` reaches `state` and rejects after `timeoutMs`. */
  waitForState(
    name: string,
    state: BackendState,
    timeoutMs?: number,
  ): Promise<void>;
}

const ACK_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 5000;
const HEALTH_CHECK_INTERVAL_MS = 200;

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function listen(server: HttpServer): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** Starts a plain Socket.IO server on 127.0.0.1 that serves /healthz and /whoami. */
async function startBackend(name: string): Promise<TestBackend> {
  const httpServer = createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "ok" }));
      return;
    }
    if (req.url === "/whoami") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          name,
          forwardedFor: req.headers["x-forwarded-for"] ?? null,
        }),
      );
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const ioServer = new Server<BackendEvents>(httpServer);
  const backend: TestBackend = {
    name,
    port: 0,
    connectTransports: [],
    upgrades: 0,
    close: async () => {
      if (!httpServer.listening) return;
      const closed = ioServer.close();
      httpServer.closeAllConnections();
      await closed;
    },
  };
  ioServer.on("connection", (socket) => {
    backend.connectTransports.push(socket.conn.transport.name);
    socket.conn.once("upgrade", () => {
      backend.upgrades += 1;
    });
    socket.on("whoami", (ack) => ack(name));
    socket.on("forwardedFor", (ack) => {
      const header = socket.handshake.headers["x-forwarded-for"];
      ack(typeof header === "string" ? header : null);
    });
  });
  backend.port = await listen(httpServer);
  cleanups.push(() => backend.close());
  return backend;
}

async function startTestBalancer(
  backends: { name: string; port: number }[],
  healthCheckIntervalMs = HEALTH_CHECK_INTERVAL_MS,
): Promise<TestBalancer> {
  const waiters = new Set<(status: BackendStatus) => void>();
  const balancer = await startBalancer({
    port: 0,
    host: "127.0.0.1",
    backends: backends.map(({ name, port }) => ({
      name,
      host: "127.0.0.1",
      port,
    })),
    healthCheckIntervalMs,
    onHealthChange: (status) => {
      for (const waiter of waiters) waiter(status);
    },
  });
  cleanups.push(() => balancer.close());

  const waitForState = (
    name: string,
    state: BackendState,
    timeoutMs = 5000,
  ): Promise<void> => {
    const current = balancer.backends().find((b) => b.name === name);
    if (current?.state === state) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = (status: BackendStatus) => {
        if (status.name !== name || status.state !== state) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`${name} did not become ${state} in ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  };
  return { balancer, waitForState };
}

/** Opens a client that never reconnects, so every failure stays visible. */
function openClient(
  url: string,
  options: { transports?: ("polling" | "websocket")[]; headers?: object } = {},
): TestClient {
  const socket: TestClient = io(url, {
    forceNew: true,
    reconnection: false,
    ...(options.transports ? { transports: options.transports } : {}),
    ...(options.headers ? { extraHeaders: { ...options.headers } } : {}),
  });
  cleanups.push(() => {
    socket.disconnect();
  });
  return socket;
}

function waitForConnect(socket: TestClient): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no connect within ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new Error(`connect_error: ${error.message}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
    };
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

function waitForUpgrade(socket: TestClient): Promise<void> {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      engine.off("upgrade", onUpgrade);
      reject(
        new Error(`no upgrade to websocket within ${CONNECT_TIMEOUT_MS} ms`),
      );
    }, CONNECT_TIMEOUT_MS);
    const onUpgrade = () => {
      clearTimeout(timer);
      resolve();
    };
    engine.once("upgrade", onUpgrade);
  });
}

function whoami(socket: TestClient): Promise<string> {
  return socket.timeout(ACK_TIMEOUT_MS).emitWithAck("whoami");
}

/** Connects `count` clients and returns how many connected to each backend. */
async function spreadOf(
  url: string,
  count: number,
  transports?: ("polling" | "websocket")[],
): Promise<Record<string, number>> {
  const clients = Array.from({ length: count }, () =>
    openClient(url, transports ? { transports } : {}),
  );
  await Promise.all(clients.map(waitForConnect));
  const names = await Promise.all(clients.map(whoami));
  const spread: Record<string, number> = {};
  for (const name of names) spread[name] = (spread[name] ?? 0) + 1;
  return spread;
}

/** Returns a port on 127.0.0.1 that a server bound and released a moment ago, so nothing listens on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("balancer", () => {
  it("keeps polling clients on one backend through the upgrade", async () => {
    const alpha = await startBackend("alpha");
    const beta = await startBackend("beta");
    const { balancer } = await startTestBalancer([alpha, beta]);
    const clientCount = 20;
    const emitsPerPhase = 5;

    let connectErrors = 0;
    let disconnects = 0;
    const clients = Array.from({ length: clientCount }, () => {
      const socket = openClient(balancer.url);
      socket.on("connect_error", () => {
        connectErrors += 1;
      });
      socket.on("disconnect", () => {
        disconnects += 1;
      });
      return socket;
    });
    await Promise.all(clients.map(waitForConnect));

    const namesPerClient = await Promise.all(
      clients.map(async (socket) => {
        // These emits leave before the upgrade probe can finish, so they go
        // out as polling requests that carry the sid.
        const beforeUpgrade = Array.from({ length: emitsPerPhase }, () =>
          whoami(socket),
        );
        const names = await Promise.all(beforeUpgrade);
        await waitForUpgrade(socket);
        for (let i = 0; i < emitsPerPhase; i++)
          names.push(await whoami(socket));
        return names;
      }),
    );

    expect(connectErrors).toBe(0);
    expect(disconnects).toBe(0);
    for (const names of namesPerClient) {
      expect(names).toHaveLength(2 * emitsPerPhase);
      expect(new Set(names).size).toBe(1);
    }
    const connectTransports = [
      ...alpha.connectTransports,
      ...beta.connectTransports,
    ];
    expect(connectTransports).toHaveLength(clientCount);
    expect(connectTransports.every((name) => name === "polling")).toBe(true);
    expect(alpha.upgrades + beta.upgrades).toBe(clientCount);
    expect(alpha.connectTransports.length).toBe(clientCount / 2);
    expect(beta.connectTransports.length).toBe(clientCount / 2);
    expect(balancer.sessionCount()).toBe(clientCount);
    for (const socket of clients) {
      expect(socket.io.engine.transport.name).toBe("websocket");
    }
  });

  it("spreads websocket-only clients over both backends", async () => {
    const alpha = await startBackend("alpha");
    const beta = await startBackend("beta");
    const { balancer } = await startTestBalancer([alpha, beta]);

    const spread = await spreadOf(balancer.url, 10, ["websocket"]);

    expect(spread).toEqual({ alpha: 5, beta: 5 });
    expect(alpha.connectTransports.every((name) => name === "websocket")).toBe(
      true,
    );
    expect(balancer.sessionCount()).toBe(0);
  });

  it("moves new clients off a backend that stopped", async () => {
    const alpha = await startBackend("alpha");
    const beta = await startBackend("beta");
    const { balancer, waitForState } = await startTestBalancer([alpha, beta]);
    await waitForState("beta", "up");

    await beta.close();
    await waitForState("beta", "down");

    const pollingSpread = await spreadOf(balancer.url, 10);
    const websocketSpread = await spreadOf(balancer.url, 6, ["websocket"]);

    expect(pollingSpread).toEqual({ alpha: 10 });
    expect(websocketSpread).toEqual({ alpha: 6 });
    expect(balancer.backends().map((b) => [b.name, b.state])).toEqual([
      ["alpha", "up"],
      ["beta", "down"],
    ]);
  });

  it("retries a refused connection on another backend", async () => {
    const alpha = await startBackend("alpha");
    const beta = await startBackend("beta");
    // The health check runs once at start and then not within this test, so
    // only the refused connections can tell the balancer that beta is gone.
    const { balancer } = await startTestBalancer([alpha, beta], 60_000);
    expect(balancer.backends().map((b) => b.state)).toEqual(["up", "up"]);

    await beta.close();
    const responses = await Promise.all(
      Array.from({ length: 4 }, () => fetch(`${balancer.url}/whoami`)),
    );
    const bodies = await Promise.all(
      responses.map((response) => response.json()),
    );
    const pollingSpread = await spreadOf(balancer.url, 4);
    const websocketSpread = await spreadOf(balancer.url, 4, ["websocket"]);

    expect(responses.map((response) => response.status)).toEqual([
      200, 200, 200, 200,
    ]);
    expect(bodies.map((body) => body.name)).toEqual([
      "alpha",
      "alpha",
      "alpha",
      "alpha",
    ]);
    expect(pollingSpread).toEqual({ alpha: 4 });
    expect(websocketSpread).toEqual({ alpha: 4 });
    expect(balancer.backends()[1]).toMatchObject({
      name: "beta",
      state: "down",
      reason: "ECONNREFUSED",
    });
  });

  it("passes X-Forwarded-For", async () => {
    const alpha = await startBackend("alpha");
    const { balancer } = await startTestBalancer([alpha]);

    const plain = await fetch(`${balancer.url}/whoami`);
    const chained = await fetch(`${balancer.url}/whoami`, {
      headers: { "x-forwarded-for": "198.51.100.7" },
    });
    const polling = openClient(balancer.url, {
      headers: { "x-forwarded-for": "198.51.100.8" },
    });
    const websocket = openClient(balancer.url, { transports: ["websocket"] });
    await Promise.all([waitForConnect(polling), waitForConnect(websocket)]);

    expect(plain.status).toBe(200);
    expect(await plain.json()).toEqual({
      name: "alpha",
      forwardedFor: "127.0.0.1",
    });
    expect(await chained.json()).toEqual({
      name: "alpha",
      forwardedFor: "198.51.100.7, 127.0.0.1",
    });
    expect(
      await polling.timeout(ACK_TIMEOUT_MS).emitWithAck("forwardedFor"),
    ).toBe("198.51.100.8, 127.0.0.1");
    expect(
      await websocket.timeout(ACK_TIMEOUT_MS).emitWithAck("forwardedFor"),
    ).toBe("127.0.0.1");
  });

  it("answers 502 when no backend is reachable", async () => {
    const port = await closedPort();
    const { balancer, waitForState } = await startTestBalancer([
      { name: "gone", port },
    ]);
    await waitForState("gone", "down");

    const response = await fetch(`${balancer.url}/whoami`);
    const rawUpgrade = await sendRawUpgrade(balancer.port);
    const client = openClient(balancer.url, { transports: ["websocket"] });
    const connectError = await waitForConnect(client).then(
      () => null,
      (error: Error) => error,
    );

    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      error: {
        code: "unavailable",
        message: "No backend responded to the request; retry later",
      },
    });
    expect(rawUpgrade.split("\r\n")[0]).toBe("HTTP/1.1 502 Bad Gateway");
    expect(connectError?.message).toMatch(/^connect_error/);
  });

  it("rejects a port that is in use", async () => {
    const alpha = await startBackend("alpha");

    const start = startBalancer({
      port: alpha.port,
      host: "127.0.0.1",
      backends: [{ host: "127.0.0.1", port: alpha.port }],
    });

    await expect(start).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});

/** Sends a WebSocket upgrade request over TCP and resolves with everything the balancer sent before closing. */
async function sendRawUpgrade(port: number): Promise<string> {
  const socket = connectTcp(port, "127.0.0.1");
  cleanups.push(() => {
    socket.destroy();
  });
  await once(socket, "connect");
  socket.write(
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n" +
      `Host: 127.0.0.1:${port}\r\n` +
      "Connection: Upgrade\r\n" +
      "Upgrade: websocket\r\n" +
      "Sec-WebSocket-Version: 13\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  );
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const timer = setTimeout(() => socket.destroy(), CONNECT_TIMEOUT_MS);
  await once(socket, "close");
  clearTimeout(timer);
  return Buffer.concat(chunks).toString("latin1");
}

describe("parseEngineRequest", () => {
  it.each([
    ["GET", "/socket.io/?EIO=4&transport=polling&t=abc", null, true],
    ["GET", "/socket.io/?EIO=4&transport=polling&sid=s1", "s1", false],
    ["POST", "/socket.io/?EIO=4&transport=polling&sid=s1", "s1", false],
    ["GET", "/socket.io/?EIO=4&transport=websocket&sid=s1", "s1", false],
    ["GET", "/socket.io/?EIO=4&transport=websocket", null, false],
    ["GET", "/socket.io/?EIO=4&transport=polling&sid=", null, true],
  ])("%s %s", (method, url, sid, isHandshake) => {
    expect(parseEngineRequest(method, url)).toEqual({ sid, isHandshake });
  });

  it("ignores URLs without EIO", () => {
    expect(parseEngineRequest("GET", "/healthz")).toBeNull();
    expect(parseEngineRequest("GET", "/api/x?sid=s1")).toBeNull();
  });
});
