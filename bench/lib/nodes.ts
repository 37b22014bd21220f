import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { SystemKind } from "../load/plans.js";
import { BUILT_ENTRY } from "./build.js";
import {
  freePort,
  readCpuSeconds,
  readRssBytes,
  startProcess,
  stopProcess,
  waitForHttp,
} from "./processes.js";

/** Secrets of the servers the bench starts; they only ever listen on 127.0.0.1. */
export const BENCH_JWT_SECRET = "bench-only-jwt-secret-that-is-long-enough";
export const BENCH_SERVER_KEY = "bench-only-server-api-key";

/** Limits high enough that no bench load is rate limited; the values are per 10 s or per minute. */
const UNLIMITED = "1000000000";
const STARTUP_TIMEOUT_MS = 60_000;

/**
 * V8 flags of both servers, the same as the Docker image's: a larger young
 * generation halves the number of scavenges, which are the pauses behind
 * the p99 latency of a server that keeps its history in memory.
 */
export const SERVER_NODE_FLAGS = ["--max-semi-space-size=32"];

export interface ServerNode {
  kind: SystemKind;
  url: string;
  pid: number;
  child: ChildProcess;
  /** Last lines of the node's output, for error messages. */
  tail: string[];
}

export interface StartOptions {
  /** REDIS_URL and REDIS_PREFIX of a cluster; memory mode when absent. */
  redis?: { url: string; prefix: string };
  /** Extra environment of the chat server, such as the OneSignal and push settings. */
  env?: Record<string, string>;
  /** Directory for `node --cpu-prof`; the profile is written when the node exits. */
  cpuProfileDir?: string;
}

/** Environment of a child without the caller's settings that would change a server's mode. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ["PATH", "HOME", "TMPDIR", "LANG", "TZ"]) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  return env;
}

/** Starts one node of the chat server or of the relay on 127.0.0.1 and waits until /healthz responds with 200. */
export async function startNode(
  kind: SystemKind,
  options: StartOptions = {},
): Promise<ServerNode> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    HOST: "127.0.0.1",
    PORT: String(port),
  };
  const nodeArgs = [...SERVER_NODE_FLAGS];
  if (options.cpuProfileDir) {
    nodeArgs.push("--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir);
  }
  if (kind === "ours") {
    Object.assign(env, {
      NODE_ENV: "development",
      DEV_AUTH: "true",
      LOG_LEVEL: "warn",
      AUTH_JWT_SECRET: BENCH_JWT_SECRET,
      SERVER_API_KEY: BENCH_SERVER_KEY,
      NODE_ID: `bench-${randomBytes(3).toString("hex")}`,
      MAX_CONNECTIONS_PER_USER: "1000",
      RATE_SEND_PER_USER: UNLIMITED,
      RATE_SEND_PER_SOCKET: UNLIMITED,
      RATE_EVENTS_PER_SOCKET: UNLIMITED,
      RATE_TYPING_PER_SOCKET: UNLIMITED,
      RATE_API_PER_MINUTE: UNLIMITED,
      SHUTDOWN_TIMEOUT_MS: "5000",
      ...options.env,
    });
    nodeArgs.push(BUILT_ENTRY.ours);
  } else {
    nodeArgs.push(BUILT_ENTRY.relay);
  }
  if (options.redis) {
    env.REDIS_URL = options.redis.url;
    env.REDIS_PREFIX = options.redis.prefix;
  }
  const { child, tail } = startProcess(process.execPath, nodeArgs, { env });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, child, tail, STARTUP_TIMEOUT_MS);
  } catch (error) {
    await stopProcess(child, 2000);
    throw new Error(`starting ${kind} failed: ${(error as Error).message}`);
  }
  return { kind, url, pid: child.pid!, child, tail };
}

export async function stopNodes(nodes: ServerNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => stopProcess(node.child)));
}

/** Heap in use of a node: prom-client's gauge in the chat server's /metrics, or the relay's /stats. */
export async function readHeapUsedBytes(node: ServerNode): Promise<number> {
  if (node.kind === "relay") {
    const response = await fetch(`${node.url}/stats`);
    const stats = (await response.json()) as { memory: { heapUsed: number } };
    return stats.memory.heapUsed;
  }
  const metrics = await fetchMetrics(node);
  const match = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics);
  if (!match) throw new Error("no nodejs_heap_size_used_bytes in /metrics");
  return Number(match[1]);
}

/** Fetches the chat server's Prometheus metrics text. */
export async function fetchMetrics(node: ServerNode): Promise<string> {
  const response = await fetch(`${node.url}/metrics`, {
    headers: { authorization: `Bearer ${BENCH_SERVER_KEY}` },
  });
  if (!response.ok) throw new Error(`/metrics returned ${response.status}`);
  return response.text();
}

/** Sum of `chat_push_decisions_total` by reason. */
export async function readPushDecisions(
  node: ServerNode,
): Promise<Record<string, number>> {
  const text = await fetchMetrics(node);
  const totals: Record<string, number> = {};
  const pattern = /^chat_push_decisions_total\{([^}]*)\} (\S+)$/gm;
  for (const match of text.matchAll(pattern)) {
    const reason = /reason="([^"]*)"/.exec(match[1]!)?.[1] ?? "unknown";
    totals[reason] = (totals[reason] ?? 0) + Number(match[2]);
  }
  return totals;
}

export function readNodeRss(node: ServerNode): number {
  return readRssBytes(node.pid);
}

export function readNodeCpu(node: ServerNode): number {
  return readCpuSeconds(node.pid);
}
