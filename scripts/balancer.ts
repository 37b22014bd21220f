import {
  Agent,
  STATUS_CODES,
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream";
import { SessionTable } from "./session-table.js";

export interface BackendAddress {
  host: string;
  port: number;
  /** Name used in logs and status, `host:port` when omitted. */
  name?: string;
}

export type BackendState = "unknown" | "up" | "down";

export interface BackendStatus {
  name: string;
  host: string;
  port: number;
  state: BackendState;
  /** Reason the last health check failed, when it did. */
  reason?: string;
}

/** The subset of a pino logger that the balancer calls. */
export interface BalancerLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface BalancerOptions {
  /** TCP port to listen on, or 0 to pick a free one. */
  port: number;
  /** Interface to listen on, 127.0.0.1 by default. */
  host?: string;
  backends: BackendAddress[];
  /** Path that must return a 2xx status for a backend to get new connections. */
  healthPath?: string;
  healthCheckIntervalMs?: number;
  /** Time one health check may take before it counts as failed. */
  healthCheckTimeoutMs?: number;
  /**
   * How long a sid → backend mapping lives without a request that carries
   * the sid. It must exceed Socket.IO's pingInterval + pingTimeout (45 s by
   * default), because a polling client sends at least one request per ping.
   */
  sessionTtlMs?: number;
  /** Maximum number of sid mappings. The least recently used one is evicted first. */
  maxSessions?: number;
  logger?: BalancerLogger;
  /** Called whenever a backend's health state changes, the first check included. */
  onHealthChange?: (backend: BackendStatus) => void;
}

export interface Balancer {
  port: number;
  /** `http://host:port` of the listening socket. */
  url: string;
  backends(): BackendStatus[];
  /** Number of engine.io sessions whose backend is remembered. */
  sessionCount(): number;
  /** Stops health checks, closes the listener and every proxied connection. */
  close(): Promise<void>;
}

const DEFAULTS = {
  host: "127.0.0.1",
  healthPath: "/healthz",
  healthCheckIntervalMs: 1000,
  healthCheckTimeoutMs: 1000,
  sessionTtlMs: 5 * 60 * 1000,
  maxSessions: 100_000,
};

/**
 * Largest handshake response that is buffered to read its sid. An engine.io
 * v4 handshake (`0{"sid":...,"upgrades":[...],...}`) is 118 bytes with
 * Socket.IO 4.8 defaults.
 */
const MAX_HANDSHAKE_BYTES = 4096;

/** Matches the sid of an engine.io handshake packet, v3 (length-prefixed) or v4. */
const HANDSHAKE_SID_PATTERN = /"sid":"([^"\\]{1,128})"/;

/** Headers that apply to one connection only (RFC 9110, section 7.6.1) and are never forwarded. */
const HOP_BY_HOP_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Error codes of a backend that cannot be reached at all, as opposed to one that failed mid-request. */
const UNREACHABLE_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
]);

const silentLogger: BalancerLogger = {
  debug() {},
  info() {},
  warn() {},
};

interface Backend {
  name: string;
  host: string;
  port: number;
  state: BackendState;
  reason?: string;
  /** Keep-alive connections for plain HTTP requests. Upgrades open a connection of their own. */
  agent: Agent;
  checking: boolean;
  lastErrorLogAt: number;
  suppressedErrors: number;
}

/** Backend chosen for a request, sticky when the request's sid maps to it. */
interface Route {
  backend: Backend;
  sticky: boolean;
}

/** Fields of an engine.io request URL that routing uses. */
interface EngineRequest {
  sid: string | null;
  /** True for a polling GET without sid, whose response carries the new sid. */
  isHandshake: boolean;
}

/**
 * Starts an HTTP and WebSocket load balancer for Socket.IO backends.
 *
 * New engine.io sessions and requests without a known sid go round-robin to
 * the backends whose last health check passed, or to all backends when none
 * passed. The sid that a backend returns in a polling handshake is stored,
 * so the later polling requests and the WebSocket upgrade of that session
 * reach the same backend, even when its health check fails.
 */
export async function startBalancer(
  options: BalancerOptions,
): Promise<Balancer> {
  if (options.backends.length === 0) {
    throw new RangeError(
      "startBalancer requires at least one backend, got none",
    );
  }
  const settings = { ...DEFAULTS, ...withoutUndefined(options) };
  const logger = options.logger ?? silentLogger;
  const backends: Backend[] = options.backends.map((address) => ({
    name: address.name ?? `${address.host}:${address.port}`,
    host: address.host,
    port: address.port,
    state: "unknown",
    agent: new Agent({ keepAlive: true }),
    checking: false,
    lastErrorLogAt: 0,
    suppressedErrors: 0,
  }));
  const sessions = new SessionTable<Backend>({
    maxEntries: settings.maxSessions,
    ttlMs: settings.sessionTtlMs,
  });
  const clientSockets = new Set<Socket>();
  let closed = false;

  const statusOf = (backend: Backend): BackendStatus => ({
    name: backend.name,
    host: backend.host,
    port: backend.port,
    state: backend.state,
    ...(backend.reason === undefined ? {} : { reason: backend.reason }),
  });

  const setState = (backend: Backend, state: BackendState, reason?: string) => {
    if (closed) return;
    backend.reason = reason;
    const previous = backend.state;
    if (previous === state) return;
    backend.state = state;
    const fields = { backend: backend.name, state, reason };
    if (state === "up") {
      logger.info(fields, `backend ${backend.name} is up`);
    } else if (previous === "unknown") {
      logger.info(fields, `backend ${backend.name} is not up yet: ${reason}`);
    } else {
      logger.warn(fields, `backend ${backend.name} is down: ${reason}`);
    }
    options.onHealthChange?.(statusOf(backend));
  };

  // Engine.io connections get their own round-robin counter, so that plain
  // HTTP requests in between (token requests, health probes of a monitor)
  // do not skew how the long-lived connections are spread.
  const counters = { connections: 0, requests: 0 };

  const pickRoundRobin = (counter: keyof typeof counters): Backend => {
    const healthy = backends.filter((backend) => backend.state === "up");
    const pool = healthy.length > 0 ? healthy : backends;
    const backend = pool[counters[counter] % pool.length]!;
    counters[counter] = (counters[counter] + 1) % Number.MAX_SAFE_INTEGER;
    return backend;
  };

  const route = (engine: EngineRequest | null): Route => {
    if (engine === null) {
      return { backend: pickRoundRobin("requests"), sticky: false };
    }
    if (engine.sid !== null) {
      const owner = sessions.get(engine.sid);
      if (owner !== undefined) return { backend: owner, sticky: true };
    }
    return { backend: pickRoundRobin("connections"), sticky: false };
  };

  /** Returns a backend that was not tried yet and is not known to be down. */
  const pickFallback = (tried: Set<Backend>): Backend | undefined => {
    const candidates = backends.filter(
      (backend) => !tried.has(backend) && backend.state !== "down",
    );
    return (
      candidates.find((backend) => backend.state === "up") ?? candidates[0]
    );
  };

  /** Marks an unreachable backend down and logs the failure, at most once per second per backend. */
  const reportProxyError = (backend: Backend, error: NodeJS.ErrnoException) => {
    if (isUnreachable(error)) setState(backend, "down", error.code);
    const now = Date.now();
    if (now - backend.lastErrorLogAt < 1000) {
      backend.suppressedErrors += 1;
      return;
    }
    logger.warn(
      {
        backend: backend.name,
        err: error.message,
        code: error.code,
        suppressed: backend.suppressedErrors,
      },
      `request to backend ${backend.name} failed`,
    );
    backend.lastErrorLogAt = now;
    backend.suppressedErrors = 0;
  };

  const learnSession = (backend: Backend, body: Buffer) => {
    const match = HANDSHAKE_SID_PATTERN.exec(body.toString("utf8"));
    if (match === null) {
      logger.debug(
        { backend: backend.name },
        "handshake response has no sid, so the session is not sticky",
      );
      return;
    }
    sessions.set(match[1]!, backend);
  };

  const handleRequest = (req: IncomingMessage, res: ServerResponse) => {
    const engine = parseEngineRequest(req.method, req.url);
    const first = route(engine);
    // A request moves to another backend only when its backend could not be
    // reached at all, it belongs to no session, and it has no body, because
    // the body of a failed attempt has already been read from the client.
    const retryable = !first.sticky && !hasBody(req);
    const tried = new Set<Backend>();
    let current: ClientRequest | null = null;
    let clientGone = false;
    res.on("close", () => {
      if (res.writableFinished) return;
      clientGone = true;
      current?.destroy();
    });

    const attempt = (backend: Backend) => {
      tried.add(backend);
      const proxyReq = httpRequest({
        host: backend.host,
        port: backend.port,
        method: req.method,
        path: req.url,
        headers: forwardedHeaders(req),
        agent: backend.agent,
      });
      current = proxyReq;
      proxyReq.on("error", (error: NodeJS.ErrnoException) => {
        if (clientGone) return;
        reportProxyError(backend, error);
        const fallback =
          retryable && isUnreachable(error) ? pickFallback(tried) : undefined;
        if (fallback !== undefined && !res.headersSent) attempt(fallback);
        else if (res.headersSent) res.destroy();
        else sendBadGateway(res);
      });
      proxyReq.on("response", (proxyRes) => {
        const length = Number(proxyRes.headers["content-length"]);
        const bufferable =
          engine?.isHandshake === true &&
          proxyRes.statusCode === 200 &&
          proxyRes.headers["content-encoding"] === undefined &&
          length > 0 &&
          length <= MAX_HANDSHAKE_BYTES;
        if (bufferable) relayHandshake(backend, proxyRes, res);
        else relayResponse(proxyRes, res);
      });
      if (retryable) proxyReq.end();
      else req.pipe(proxyReq);
    };

    if (retryable) req.resume();
    attempt(first.backend);
  };

  const relayHandshake = (
    backend: Backend,
    proxyRes: IncomingMessage,
    res: ServerResponse,
  ) => {
    const chunks: Buffer[] = [];
    proxyRes.on("data", (chunk: Buffer) => chunks.push(chunk));
    proxyRes.on("error", () => res.destroy());
    proxyRes.on("end", () => {
      const body = Buffer.concat(chunks);
      learnSession(backend, body);
      res.writeHead(
        proxyRes.statusCode ?? 502,
        proxyRes.statusMessage,
        withoutHopByHop(proxyRes.headers),
      );
      res.end(body);
    });
  };

  const handleUpgrade = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ) => {
    socket.on("error", () => socket.destroy());
    const engine = parseEngineRequest(req.method, req.url);
    const first = route(engine);
    const headers = forwardedHeaders(req);
    headers.connection = "Upgrade";
    headers.upgrade = req.headers.upgrade;
    const tried = new Set<Backend>();
    let current: ClientRequest | null = null;
    const abort = () => current?.destroy();
    socket.once("close", abort);

    const attempt = (backend: Backend) => {
      tried.add(backend);
      const proxyReq = httpRequest({
        host: backend.host,
        port: backend.port,
        method: req.method,
        path: req.url,
        headers,
        agent: false,
      });
      current = proxyReq;
      proxyReq.on("error", (error: NodeJS.ErrnoException) => {
        if (socket.destroyed) return;
        reportProxyError(backend, error);
        const fallback =
          !first.sticky && isUnreachable(error)
            ? pickFallback(tried)
            : undefined;
        if (fallback !== undefined) attempt(fallback);
        else rejectUpgrade(socket, 502);
      });
      proxyReq.on("upgrade", (proxyRes, backendSocket, backendHead) => {
        socket.off("close", abort);
        if (socket.destroyed) {
          backendSocket.destroy();
          return;
        }
        socket.write(rawResponseHead(proxyRes, proxyRes.rawHeaders));
        if (backendHead.length > 0) socket.write(backendHead);
        if (head.length > 0) backendSocket.write(head);
        tunnel(socket, backendSocket);
      });
      // The backend answered without switching protocols, for example 400
      // "Session ID unknown". Node has already removed any chunked framing
      // from the body, so the relayed response ends by closing the connection.
      proxyReq.on("response", (proxyRes) => {
        socket.off("close", abort);
        const rawHeaders = filterRawHeaders(proxyRes.rawHeaders, [
          "connection",
          "keep-alive",
          "transfer-encoding",
        ]);
        rawHeaders.push("Connection", "close");
        socket.write(rawResponseHead(proxyRes, rawHeaders));
        pipeline(proxyRes, socket, () => socket.destroy());
      });
      proxyReq.end();
    };

    attempt(first.backend);
  };

  const checkBackend = async (backend: Backend) => {
    if (backend.checking) return;
    backend.checking = true;
    try {
      const failure = await probeHealth(
        backend,
        settings.healthPath,
        settings.healthCheckTimeoutMs,
      );
      if (failure === null) setState(backend, "up");
      else setState(backend, "down", failure);
    } finally {
      backend.checking = false;
    }
  };

  const checkAll = () => Promise.all(backends.map(checkBackend));

  const server = createServer(handleRequest);
  server.on("upgrade", handleUpgrade);
  server.on("connection", (socket: Socket) => {
    clientSockets.add(socket);
    socket.once("close", () => clientSockets.delete(socket));
  });

  await checkAll();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(settings.port, settings.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    for (const backend of backends) backend.agent.destroy();
    throw error;
  }
  const healthTimer = setInterval(() => {
    void checkAll();
    sessions.removeExpired();
  }, settings.healthCheckIntervalMs);
  const port = (server.address() as AddressInfo).port;
  logger.info(
    { port, host: settings.host, backends: backends.map((b) => b.name) },
    "balancer listening",
  );

  let closing: Promise<void> | null = null;
  return {
    port,
    url: `http://${formatHost(settings.host)}:${port}`,
    backends: () => backends.map(statusOf),
    sessionCount: () => sessions.size,
    close() {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        clearInterval(healthTimer);
        server.close(() => resolve());
        for (const socket of clientSockets) socket.destroy();
        for (const backend of backends) backend.agent.destroy();
      });
      return closing;
    },
  };
}

/** Reads the sid of an engine.io request, or returns null for any other URL. */
export function parseEngineRequest(
  method: string | undefined,
  url: string | undefined,
): EngineRequest | null {
  const queryStart = url?.indexOf("?") ?? -1;
  if (url === undefined || queryStart < 0) return null;
  const query = new URLSearchParams(url.slice(queryStart + 1));
  if (!query.has("EIO")) return null;
  const sid = query.get("sid") || null;
  return {
    sid,
    isHandshake:
      sid === null && method === "GET" && query.get("transport") === "polling",
  };
}

/** Resolves with null when the backend's health path returns a 2xx status, else with the reason. */
function probeHealth(
  backend: Backend,
  path: string,
  timeoutMs: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: backend.host,
        port: backend.port,
        path,
        method: "GET",
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(
          status >= 200 && status < 300
            ? null
            : `${path} returned status ${status}`,
        );
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`${path} timed out after ${timeoutMs} ms`)),
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code ?? error.message),
    );
    req.end();
  });
}

function isUnreachable(error: NodeJS.ErrnoException): boolean {
  return error.code !== undefined && UNREACHABLE_ERROR_CODES.has(error.code);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (
    req.headers["transfer-encoding"] !== undefined ||
    (length !== undefined && length !== "0")
  );
}

function relayResponse(proxyRes: IncomingMessage, res: ServerResponse) {
  res.writeHead(
    proxyRes.statusCode ?? 502,
    proxyRes.statusMessage,
    withoutHopByHop(proxyRes.headers),
  );
  pipeline(proxyRes, res, () => {});
}

function sendBadGateway(res: ServerResponse) {
  const body = JSON.stringify({
    error: {
      code: "unavailable",
      message: "No backend responded to the request; retry later",
    },
  });
  res.writeHead(502, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  res.end(body);
}

function rejectUpgrade(socket: Duplex, status: number) {
  const body = STATUS_CODES[status] ?? "Error";
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\n` +
      "Connection: close\r\n" +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `\r\n${body}`,
    () => socket.destroy(),
  );
}

/** Pipes an upgraded client socket and backend socket both ways until either closes. */
function tunnel(client: Duplex, backend: Socket) {
  backend.setNoDelay(true);
  const closeBoth = () => {
    client.destroy();
    backend.destroy();
  };
  client.on("error", closeBoth);
  backend.on("error", closeBoth);
  client.on("close", closeBoth);
  backend.on("close", closeBoth);
  backend.pipe(client);
  client.pipe(backend);
}

/** Copies the request headers without hop-by-hop ones and appends the client to X-Forwarded-For. */
function forwardedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = withoutHopByHop(req.headers);
  const client = clientAddress(req.socket);
  const prior = req.headers["x-forwarded-for"];
  headers["x-forwarded-for"] = prior ? `${prior}, ${client}` : client;
  headers["x-forwarded-proto"] ??= "http";
  if (req.headers.host !== undefined) {
    headers["x-forwarded-host"] ??= req.headers.host;
  }
  return headers;
}

function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = new Set(
    (headers.connection ?? "")
      .split(",")
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token.length > 0),
  );
  const result: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (HOP_BY_HOP_HEADERS.has(name) || listed.has(name)) continue;
    result[name] = value;
  }
  return result;
}

function filterRawHeaders(rawHeaders: string[], drop: string[]): string[] {
  const result: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (drop.includes(rawHeaders[i]!.toLowerCase())) continue;
    result.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return result;
}

function rawResponseHead(res: IncomingMessage, rawHeaders: string[]): string {
  let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  }
  return `${head}\r\n`;
}

/** Returns the peer address, with IPv4-mapped IPv6 addresses in IPv4 form as nginx shows them. */
function clientAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? "unknown";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
